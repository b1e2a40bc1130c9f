"""Model builders: Functional multi-task architectures.

`build(inputs, tasks, architecture=...)` dispatches to the builder of each
architecture; the builders are public too.
"""

from typing import Any
from typing import Callable
from typing import Sequence

from keras_mtl.builders.hard import build_hard
from keras_mtl.model import MultiTaskModel
from keras_mtl.tasks import Task
from keras_mtl.types import Inputs

ARCHITECTURES: dict[str, Callable[..., MultiTaskModel]] = {
    "hard": build_hard,
}


def build(
    inputs: Inputs,
    tasks: Sequence[Task],
    architecture: str = "hard",
    **options: Any,
) -> MultiTaskModel:
    """Builds a `MultiTaskModel` of the given architecture.

    Args:
        inputs: A `keras.Input` or a dict of named inputs.
        tasks: The `keras_mtl.Task` list.
        architecture: One of `ARCHITECTURES` (`"hard"` by default).
        **options: The architecture's arguments (`trunk`, `sharing_depth`,
            `num_experts`, ...).

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
    return ARCHITECTURES[architecture](inputs, tasks, **options)


__all__ = ["ARCHITECTURES", "build", "build_hard"]
