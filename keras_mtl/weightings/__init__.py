"""Loss weighting strategies: `compile(weighting=...)`.

Each strategy maps the `[T]` task losses to `[T]` task weights inside the
compiled training step. `get()` resolves snake_case ids, configs and
instances, as `keras.optimizers.get` does.

| id             | class                  | weights from                      |
|----------------|------------------------|-----------------------------------|
| `equal`        | `EqualWeighting`       | 1 for every task                  |
| `static`       | `StaticWeighting`      | a fixed dict                      |
| `inverse_size` | `InverseSizeWeighting` | labelled training-set sizes       |
| `scheduled`    | `ScheduledWeighting`   | a schedule, callback, curriculum |
| `uncertainty`  | `UncertaintyWeighting` | learned log-variances             |
| `dwa`          | `DWA`                  | epoch-level loss ratios           |
| `gradnorm`     | `GradNorm`             | gradient norms at the trunk       |
| `rlw`          | `RLW`                  | random draws                      |
| `gls`          | `GLS`                  | the geometric mean of the losses  |
| `imtl_l`       | `IMTLL`                | learned loss scales               |
| `dtp`          | `DTP`                  | per-task KPIs (accuracy, ...)     |
| `famo`         | `FAMO`                 | loss decrease after each step     |
| `stch`         | `STCH`                 | a smoothed maximum of the losses  |
"""

from typing import Any

from keras_mtl.registry import class_from_registry
from keras_mtl.registry import get_from_registry
from keras_mtl.weightings.base import Weighting
from keras_mtl.weightings.curriculum import CurriculumSchedule
from keras_mtl.weightings.curriculum import MainTaskFirst
from keras_mtl.weightings.curriculum import StepByStep
from keras_mtl.weightings.dtp import DTP
from keras_mtl.weightings.dwa import DWA
from keras_mtl.weightings.famo import FAMO
from keras_mtl.weightings.gls import GLS
from keras_mtl.weightings.gradnorm import GradNorm
from keras_mtl.weightings.imtl_l import IMTLL
from keras_mtl.weightings.inverse_size import InverseSizeWeighting
from keras_mtl.weightings.rlw import RLW
from keras_mtl.weightings.scheduled import ScheduledWeighting
from keras_mtl.weightings.static import EqualWeighting
from keras_mtl.weightings.static import StaticWeighting
from keras_mtl.weightings.stch import STCH
from keras_mtl.weightings.uncertainty import UncertaintyWeighting

_REGISTRY: dict[str, Any] = {
    "equal": EqualWeighting,
    "static": StaticWeighting,
    "inverse_size": InverseSizeWeighting,
    "scheduled": ScheduledWeighting,
    "uncertainty": UncertaintyWeighting,
    "dwa": DWA,
    "gradnorm": GradNorm,
    "rlw": RLW,
    "gls": GLS,
    "imtl_l": IMTLL,
    "dtp": DTP,
    "famo": FAMO,
    "stch": STCH,
}


def get(identifier: Any) -> Weighting:
    """Returns a `Weighting` from an id (`"dwa"`), a config or an instance.

    `None` gives `EqualWeighting()`.
    """
    if identifier is None:
        return EqualWeighting()
    return get_from_registry(identifier, _REGISTRY, Weighting, "weightings")


def names() -> list[str]:
    """Returns the snake_case ids that `get()` accepts, in the order of
    the table above (the order a hyperparameter search lists them in)."""
    return list(_REGISTRY)


def get_class(name: str) -> type[Weighting]:
    """Returns the class registered under the id `name` (e.g. `"dwa"`).

    Raises a `ValueError` listing the known ids when `name` is unknown.
    """
    return class_from_registry(name, _REGISTRY, "weightings")


__all__ = [
    "DTP",
    "DWA",
    "FAMO",
    "GLS",
    "IMTLL",
    "RLW",
    "STCH",
    "CurriculumSchedule",
    "EqualWeighting",
    "GradNorm",
    "InverseSizeWeighting",
    "MainTaskFirst",
    "ScheduledWeighting",
    "StaticWeighting",
    "StepByStep",
    "UncertaintyWeighting",
    "Weighting",
    "get",
    "get_class",
    "names",
]
