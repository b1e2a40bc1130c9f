"""Yeast: 2,417 genes, 103 features, 14 functional classes (multi-label).

Where to get the file: the `river` package ships it inside its wheel as
`river/datasets/yeast.csv.gz` (install the optional extra:
`pip install keras-mtl[yeast]`); it is the MULAN version of the data
(OpenML id 40597). The CSV has a header `Att1..Att103, Class1..Class14`.
The loader reads the CSV itself; it only asks `importlib` where `river` is
installed, without importing it.

Tasks: either 14 binary tasks `class_1` ... `class_14`, or one multilabel
task `classes` of width 14 (`as_multilabel=True`). Splits are a seeded
re-split of the 2,417 rows by `fractions` (the file carries no split).
"""

import csv
import gzip
import importlib.util
import io
import pathlib
from typing import Any
from typing import Sequence

import numpy as np

from keras_mtl.data import _tabular

NUM_FEATURES = 103
NUM_LABELS = 14


def yeast_path() -> pathlib.Path:
    """The `yeast.csv.gz` inside the installed `river` package."""
    spec = importlib.util.find_spec("river")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "load_yeast() reads the Yeast CSV that the `river` package "
            "ships. Install it with `pip install keras-mtl[yeast]` (or "
            "`pip install river`), or pass path= to a yeast.csv[.gz].")
    root = pathlib.Path(list(spec.submodule_search_locations)[0])
    path = root / "datasets" / "yeast.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(
            f"The installed river package has no {path}. Pass path= to a "
            "yeast.csv[.gz] with columns Att1..Att103, Class1..Class14.")
    return path


def _read(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8"))
        header = next(reader)
        rows = [row for row in reader if row]
    expected = [f"Att{i}" for i in range(1, NUM_FEATURES + 1)] + [
        f"Class{i}" for i in range(1, NUM_LABELS + 1)]
    if header != expected:
        raise ValueError(
            f"{path}: unexpected header (first fields {header[:3]}, "
            f"{len(header)} in all). Expected Att1..Att{NUM_FEATURES}, "
            f"Class1..Class{NUM_LABELS}.")
    table = np.array(rows, dtype="float64")
    return (table[:, :NUM_FEATURES].astype("float32"),
            table[:, NUM_FEATURES:].astype("int32"))


def load_yeast(
    path: str | pathlib.Path | None = None,
    split: str | Sequence[str] = ("train", "validation", "test"),
    *,
    seed: int = 0,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    as_multilabel: bool = False,
) -> Any:
    """Loads Yeast as `(features, {task: labels})` splits.

    Args:
        path: A `yeast.csv[.gz]`; defaults to the copy inside `river`.
        split: `"train"`, `"validation"`, `"test"` or a tuple of them.
        seed: int. Seeds the re-split.
        fractions: Train/validation/test shares.
        as_multilabel: bool. One `classes` task `(N, 14)` instead of 14
            binary tasks `class_1` ... `class_14`.

    Returns:
        `(x, y)` for one split name, else a tuple of them; `x` float32
        `(N, 103)`, labels int32.

    References:
    - Elisseeff, Weston (2001). A kernel method for multi-labelled
      classification. NeurIPS.
    """
    names, single = _tabular.select_splits(split)
    x, labels = _read(pathlib.Path(path) if path is not None
                      else yeast_path())
    pieces = _tabular.split_indices(len(x), fractions, seed)
    out = []
    for name in names:
        index = pieces[_tabular.SPLITS.index(name)]
        if as_multilabel:
            y = {"classes": labels[index]}
        else:
            y = {f"class_{i + 1}": labels[index, i]
                 for i in range(NUM_LABELS)}
        out.append((x[index], y))
    return out[0] if single else tuple(out)
