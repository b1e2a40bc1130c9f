"""keras_mtl: multi-task learning as a first-class `model.fit` workflow.

```python
import keras, keras_mtl

tasks = [keras_mtl.Task("income", kind="binary"),
         keras_mtl.Task("age", kind="regression")]
model = keras_mtl.build(keras.Input((40,)), tasks, trunk=(128, 64))
model.compile("adam")
model.fit(x, {"income": y_income, "age": y_age}, epochs=5)
```

keras_mtl runs on the TensorFlow backend of Keras. It does not set
`KERAS_BACKEND`: Keras's default is TensorFlow, and building or compiling
a `MultiTaskModel` under another backend raises an error saying so.

`tuning`, `export`, `data`, `relations` and `reporting` are imported on
first use.
"""

from keras_mtl import aggregators
from keras_mtl import builders
from keras_mtl import callbacks
from keras_mtl import distill
from keras_mtl import layers
from keras_mtl import weightings
from keras_mtl._lazy import lazy_attributes
from keras_mtl.builders import build
from keras_mtl.great import GREAT
from keras_mtl.model import MultiTaskModel
from keras_mtl.tasks import Task

__version__ = "0.1.0"

__all__ = [
    "GREAT",
    "MultiTaskModel",
    "Task",
    "aggregators",
    "build",
    "builders",
    "callbacks",
    "data",
    "distill",
    "export",
    "layers",
    "relations",
    "reporting",
    "tuning",
    "weightings",
]

__getattr__, __dir__ = lazy_attributes(
    __name__,
    lazy={name: f"keras_mtl.{name}"
          for name in ("data", "export", "relations", "reporting",
                       "tuning")},
    moved={"metrics": "keras_mtl.reporting",
           "plotting": "keras_mtl.reporting",
           "conflict_plots": "keras_mtl.reporting"},
    eager=__all__,
)
