"""keras_mtl: multi-task learning as a first-class `model.fit` workflow.

```python
import keras, keras_mtl

tasks = [keras_mtl.Task("income", kind="binary"),
         keras_mtl.Task("age", kind="regression")]
model = keras_mtl.build(keras.Input((40,)), tasks, trunk=(128, 64))
model.compile("adam")
model.fit(x, {"income": y_income, "age": y_age}, epochs=5)
```
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from keras_mtl import aggregators  # noqa: E402
from keras_mtl import builders  # noqa: E402
from keras_mtl import callbacks  # noqa: E402
from keras_mtl import conflict_plots  # noqa: E402
from keras_mtl import data  # noqa: E402
from keras_mtl import distill  # noqa: E402
from keras_mtl import export  # noqa: E402
from keras_mtl import layers  # noqa: E402
from keras_mtl import metrics  # noqa: E402
from keras_mtl import plotting  # noqa: E402
from keras_mtl import tuning  # noqa: E402
from keras_mtl import weightings  # noqa: E402
from keras_mtl.builders import build  # noqa: E402
from keras_mtl.great import GREAT  # noqa: E402
from keras_mtl.model import MultiTaskModel  # noqa: E402
from keras_mtl.tasks import Task  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "GREAT",
    "MultiTaskModel",
    "Task",
    "aggregators",
    "build",
    "builders",
    "callbacks",
    "conflict_plots",
    "data",
    "distill",
    "export",
    "layers",
    "metrics",
    "plotting",
    "tuning",
    "weightings",
]
