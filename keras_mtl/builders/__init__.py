"""Model builders: Functional multi-task architectures.

`build(inputs, tasks, architecture=...)` dispatches to the builder of each
architecture; the builders are public too.
"""

from typing import Any
from typing import Callable
from typing import Mapping
from typing import Sequence

import keras

from keras_mtl.builders.cross_stitch import build_cross_stitch
from keras_mtl.builders.esmm import build_esmm
from keras_mtl.builders.esmm import esmm_tasks
from keras_mtl.builders.fusion import FUSIONS
from keras_mtl.builders.fusion import build_multimodal
from keras_mtl.builders.hard import build_hard
from keras_mtl.builders.mmoe import build_mmoe
from keras_mtl.builders.mtan import build_mtan
from keras_mtl.builders.ple import build_cgc
from keras_mtl.builders.ple import build_ple
from keras_mtl.builders.soft import build_soft
from keras_mtl.model import MultiTaskModel
from keras_mtl.tasks import Task
from keras_mtl.types import Inputs

ARCHITECTURES: dict[str, Callable[..., MultiTaskModel]] = {
    "hard": build_hard,
    "soft": build_soft,
    "cross_stitch": build_cross_stitch,
    "mmoe": build_mmoe,
    "cgc": build_cgc,
    "ple": build_ple,
    "mtan": build_mtan,
}


def build(
    inputs: Inputs,
    tasks: Sequence[Task],
    architecture: str = "hard",
    *,
    encoders: Mapping[str, keras.layers.Layer] | None = None,
    fusion: str = "concat",
    fusion_units: int | None = None,
    projection: bool = True,
    **options: Any,
) -> MultiTaskModel:
    """Builds a `MultiTaskModel` of the given architecture.

    Args:
        inputs: A `keras.Input` or a dict of named inputs (modalities).
        tasks: The `keras_mtl.Task` list.
        architecture: One of `ARCHITECTURES` (`"hard"` by default).
        encoders: Multimodal inputs: a dict `{input_name: layer}` encoding
            each named input (one layer may serve several inputs).
        fusion: How modality embeddings meet: `"concat"` (default),
            `"weighted_sum"` (a learned weight per modality), `"attention"`
            (attention over the modality embeddings) or `"late"` (one
            architecture per modality, task predictions combined with
            learned weights). See `keras_mtl.builders.fusion`.
        fusion_units: Common embedding width (default: the widest
            embedding where fusion needs one width).
        projection: Whether embeddings of another width get a Dense
            projection to the common width (else a width mismatch raises).
        **options: The architecture's arguments (`trunk`, `sharing_depth`,
            `num_experts`, ...). Hard sharing also takes `plan=` (a
            `keras_mtl.relations` plan) or `sharing_depth={task: depth}`.

    Example:

    ```python
    model = keras_mtl.build(keras.Input((40,)), tasks, trunk=(128, 64),
                            sharing_depth=1)
    ```
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"Unknown architecture {architecture!r}. Available: "
            f"{sorted(ARCHITECTURES)}."
        )
    if options.get("plan") is not None and architecture != "hard":
        raise ValueError(
            "Argument `plan` (task groups or a tree of branches) builds a "
            f"hard-sharing model; received architecture={architecture!r}. "
            "Use architecture='hard'."
        )
    return build_multimodal(
        ARCHITECTURES[architecture], inputs, tasks, encoders=encoders,
        fusion=fusion, fusion_units=fusion_units, projection=projection,
        **options)


__all__ = [
    "ARCHITECTURES",
    "FUSIONS",
    "build",
    "build_cgc",
    "build_cross_stitch",
    "build_esmm",
    "build_hard",
    "build_mmoe",
    "build_mtan",
    "build_ple",
    "build_soft",
    "esmm_tasks",
]
