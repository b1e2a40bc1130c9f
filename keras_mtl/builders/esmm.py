"""ESMM: the Entire Space Multi-task Model for post-click conversion rate.

A naive CVR model trains on clicked impressions only and predicts on all
of them (sample selection bias), and clicks are rare (data sparsity).
ESMM models the two steps of the funnel on the entire impression space:

```
pCTR   = CTR tower(shared embedding)          loss: click
pCVR   = CVR tower(shared embedding)          no loss of its own
pCTCVR = pCTR x pCVR                          loss: click AND conversion
L = sum_i BCE(click_i, pCTR_i) + sum_i BCE(click_i * conv_i, pCTCVR_i)
```

Every impression is a training sample for both losses; pCVR is learned
through the product, and predicts conversion given a click everywhere.
Here the CVR task is `supervised=False` (its labels, when given, feed its
metrics only), and the CTCVR task declares `inputs_from=("ctr", "cvr")`:
the CTR tower belongs to `ctr` and the CVR tower to `cvr`
(`model.task_layers`), while gradient aggregation treats the CTR tower as
shared, since the losses of `ctr` and `ctcvr` both reach it.

References:
- Ma, Zhao, Huang, Wang, Hu, Zhu, Gai (2018). Entire Space Multi-Task
  Model: An Effective Approach for Estimating Post-Click Conversion Rate.
  SIGIR. arXiv:1804.07931.
"""

from typing import Sequence

import keras

from keras_mtl.builders.blocks import flatten_if_needed
from keras_mtl.builders.blocks import make_blocks
from keras_mtl.builders.blocks import merge_inputs
from keras_mtl.model import MultiTaskModel
from keras_mtl.tasks import Task
from keras_mtl.tasks import validate_task_name
from keras_mtl.tasks.task_graph import attach_heads
from keras_mtl.types import Inputs
from keras_mtl.types import TrunkSpec


def esmm_tasks(
    ctr: str = "ctr", cvr: str = "cvr", ctcvr: str = "ctcvr",
    tower: Sequence[int] = (),
) -> list[Task]:
    """The three ESMM tasks: CTR (trained on clicks), CVR (no loss of its
    own) and CTCVR = CTR x CVR (trained on click-and-convert).

    Args:
        ctr, cvr, ctcvr: Task names.
        tower: Hidden widths of the CTR and CVR heads (their towers).
    """
    for name in (ctr, cvr, ctcvr):
        validate_task_name(name)
    return [
        Task(ctr, "binary", head_units=tuple(tower)),
        Task(cvr, "binary", head_units=tuple(tower), supervised=False),
        Task(ctcvr, "binary", inputs_from=(ctr, cvr),
             head=keras.layers.Multiply(name=ctcvr)),
    ]


def build_esmm(
    inputs: Inputs,
    shared: TrunkSpec = (64,),
    tower: Sequence[int] = (64, 32),
    activation: str = "relu",
    dropout: float = 0.0,
    ctr: str = "ctr",
    cvr: str = "cvr",
    ctcvr: str = "ctcvr",
    name: str = "esmm",
) -> MultiTaskModel:
    """Builds an ESMM `MultiTaskModel` with outputs `ctr`, `cvr`, `ctcvr`.

    Args:
        inputs: A `keras.Input` or a dict of named inputs (flattened and
            concatenated).
        shared: The shared bottom (the paper's shared embedding): Dense
            widths, a list of layers, or one Keras layer (an
            `Embedding` stack for id features). `()` shares nothing.
        tower: Hidden widths of the CTR and CVR towers.
        activation: Activation of the Dense blocks.
        dropout: Dropout after each shared Dense block.
        ctr, cvr, ctcvr: Task names.
        name: Model name.

    Returns:
        A `MultiTaskModel`. Train it with labels for `ctr` (click) and
        `ctcvr` (click and conversion) on every impression; labels for
        `cvr` are optional (conversion on clicked impressions, missing
        elsewhere) and feed only its metrics.

    Example:

    ```python
    model = keras_mtl.builders.build_esmm(keras.Input((40,)))
    model.compile("adam")
    model.fit(x, {"ctr": click, "ctcvr": click * conversion})
    p_cvr = model.predict(x)["cvr"]
    ```
    """
    tasks = esmm_tasks(ctr, cvr, ctcvr, tower)
    x = merge_inputs(inputs)
    empty = isinstance(shared, (tuple, list)) and not shared
    blocks = [] if empty else make_blocks(shared, activation, dropout)
    for block in blocks:
        x = block(x, prefix=None)
    x = flatten_if_needed(x, None, "representation")
    outputs = attach_heads(tasks, lambda task: x)
    return MultiTaskModel(inputs, outputs, name=name, tasks=tasks)
