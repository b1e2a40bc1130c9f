"""Gradient aggregators: `compile(aggregator=...)`.

Each maps the `[T, P]` per-task Jacobian of the shared variables to one
`[P]` update direction. `get()` resolves snake_case ids, configs and
instances; `None` means no aggregation (one gradient of the weighted sum).
"""

from typing import Any

from keras_mtl.aggregators.aligned_mtl import AlignedMTL
from keras_mtl.aggregators.base import Aggregator
from keras_mtl.aggregators.base import DualConeAggregator
from keras_mtl.aggregators.base import GramianAggregator
from keras_mtl.aggregators.cagrad import CAGrad
from keras_mtl.aggregators.config import ConFIG
from keras_mtl.aggregators.dualproj import DualProj
from keras_mtl.aggregators.graddrop import GradDrop
from keras_mtl.aggregators.gradvac import GradVac
from keras_mtl.aggregators.imtl_g import IMTLG
from keras_mtl.aggregators.mean import Mean
from keras_mtl.aggregators.mgda import MGDA
from keras_mtl.aggregators.nash_mtl import NashMTL
from keras_mtl.aggregators.pcgrad import PCGrad
from keras_mtl.aggregators.rgw import RGW
from keras_mtl.aggregators.sum import Sum
from keras_mtl.aggregators.upgrad import UPGrad
from keras_mtl.registry import class_from_registry
from keras_mtl.registry import get_from_registry

_REGISTRY: dict[str, Any] = {
    "aligned_mtl": AlignedMTL,
    "cagrad": CAGrad,
    "config": ConFIG,
    "dualproj": DualProj,
    "graddrop": GradDrop,
    "gradvac": GradVac,
    "imtl_g": IMTLG,
    "mean": Mean,
    "mgda": MGDA,
    "nash_mtl": NashMTL,
    "pcgrad": PCGrad,
    "rgw": RGW,
    "sum": Sum,
    "upgrad": UPGrad,
}


def get(identifier: Any) -> Aggregator | None:
    """Returns an `Aggregator` from an id (`"upgrad"`), a config or an
    instance; `None` stays `None` (the fast path)."""
    if identifier is None:
        return None
    return get_from_registry(identifier, _REGISTRY, Aggregator, "aggregators")


def names() -> list[str]:
    """Returns the snake_case ids that `get()` accepts, in registration
    order (the order a hyperparameter search lists them in)."""
    return list(_REGISTRY)


def get_class(name: str) -> type[Aggregator]:
    """Returns the class registered under the id `name` (e.g. `"pcgrad"`).

    Raises a `ValueError` listing the known ids when `name` is unknown.
    """
    return class_from_registry(name, _REGISTRY, "aggregators")


__all__ = [
    "Aggregator",
    "AlignedMTL",
    "CAGrad",
    "ConFIG",
    "DualConeAggregator",
    "DualProj",
    "GradDrop",
    "GradVac",
    "GramianAggregator",
    "IMTLG",
    "MGDA",
    "Mean",
    "NashMTL",
    "PCGrad",
    "RGW",
    "Sum",
    "UPGrad",
    "get",
    "get_class",
    "names",
]
