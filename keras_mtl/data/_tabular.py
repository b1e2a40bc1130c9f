"""Shared parts of the UCI table loaders: reading, splitting, encoding."""

import csv
import gzip
import io
import pathlib
from typing import Any
from typing import Callable
from typing import Sequence

import numpy as np

Split = tuple[np.ndarray, dict[str, np.ndarray]]
SPLITS = ("train", "validation", "test")


def find_file(folder: pathlib.Path, stem: str) -> pathlib.Path | None:
    """`folder/stem` or `folder/stem.gz`, whichever exists."""
    for name in (stem, stem + ".gz"):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def read_rows(path: pathlib.Path, num_fields: int,
              extra_leading: int = 0) -> list[list[str]]:
    """Rows of a comma-separated UCI file, fields stripped.

    Skips empty lines and `|` comment lines. A row with `num_fields +
    extra_leading` fields loses its first `extra_leading` fields (an index
    column); any other field count is an error naming the line.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="latin-1", newline="")
        for line_no, row in enumerate(
                csv.reader(text, skipinitialspace=True), start=1):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if row[0].startswith("|"):
                continue
            if len(row) == num_fields + extra_leading and extra_leading:
                row = row[extra_leading:]
            if len(row) != num_fields:
                raise ValueError(
                    f"{path}, line {line_no}: expected {num_fields} "
                    f"comma-separated fields, found {len(row)}. Is this the "
                    "original UCI file?")
            rows.append([field.strip() for field in row])
    return rows


def columns_of(rows: list[list[str]],
               names: Sequence[str]) -> dict[str, np.ndarray]:
    """Columns as object arrays of stripped strings (much faster to build
    than fixed-width unicode arrays)."""
    if not rows:
        return {name: np.array([], dtype=object) for name in names}
    return {name: np.array(column, dtype=object)
            for name, column in zip(names, zip(*rows))}


def split_indices(num_rows: int, fractions: Sequence[float],
                  seed: int) -> list[np.ndarray]:
    """A seeded permutation cut into consecutive parts by `fractions`."""
    shares = np.asarray(fractions, dtype="float64")
    if np.any(shares < 0) or not np.isclose(shares.sum(), 1.0):
        raise ValueError(
            "Split fractions must be >= 0 and sum to 1. Received: "
            f"fractions={tuple(shares.tolist())}.")
    order = np.random.default_rng(seed).permutation(num_rows)
    cuts = np.round(np.cumsum(shares)[:-1] * num_rows).astype(int)
    return np.split(order, cuts)


class Encoder:
    """One-hot categories and standardised numbers, fitted on train rows.

    Categories are those seen in the training rows, sorted; a category
    unseen in training encodes as all zeros. Numbers that do not parse
    (`?`) take the training mean. With `standardize`, numbers become
    `(v - mean) / std` with the training statistics.
    """

    def __init__(self, categorical: Sequence[str], numeric: Sequence[str],
                 standardize: bool = True) -> None:
        self.categorical = list(categorical)
        self.numeric = list(numeric)
        self.standardize = standardize
        self.categories: dict[str, np.ndarray] = {}
        self.mean: dict[str, float] = {}
        self.std: dict[str, float] = {}

    @staticmethod
    def _numbers(values: np.ndarray) -> np.ndarray:
        out = np.full(len(values), np.nan)
        ok = values != "?"
        out[ok] = values[ok].astype("float64")
        return out

    def fit(self, columns: dict[str, np.ndarray]) -> "Encoder":
        for name in self.categorical:
            self.categories[name] = np.unique(columns[name])
        for name in self.numeric:
            values = self._numbers(columns[name])
            self.mean[name] = float(np.nanmean(values))
            std = float(np.nanstd(values))
            self.std[name] = std if std > 0 else 1.0
        return self

    @property
    def feature_names(self) -> list[str]:
        names = list(self.numeric)
        for name in self.categorical:
            names += [f"{name}={c}" for c in self.categories[name]]
        return names

    def transform(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        num_rows = len(next(iter(columns.values())))
        out = np.zeros((num_rows, len(self.feature_names)), "float32")
        for j, name in enumerate(self.numeric):
            values = self._numbers(columns[name])
            values = np.where(np.isnan(values), self.mean[name], values)
            if self.standardize:
                values = (values - self.mean[name]) / self.std[name]
            out[:, j] = values
        offset = len(self.numeric)
        rows = np.arange(num_rows)
        for name in self.categorical:
            known = self.categories[name]
            position = np.searchsorted(known, columns[name])
            position = np.clip(position, 0, len(known) - 1)
            seen = known[position] == columns[name]
            out[rows[seen], offset + position[seen]] = 1.0
            offset += len(known)
        return out


def take(columns: dict[str, np.ndarray],
         index: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[index] for k, v in columns.items()}


def num_rows(columns: dict[str, np.ndarray]) -> int:
    return len(next(iter(columns.values())))


def resplit(table: dict[str, np.ndarray], fractions: Sequence[float],
            seed: int) -> dict[str, dict[str, np.ndarray]]:
    """One table cut into the train/validation/test splits by
    `fractions` (a seeded permutation, see `split_indices`)."""
    pieces = split_indices(num_rows(table), fractions, seed)
    return {name: take(table, index) for name, index in zip(SPLITS, pieces)}


def encoded_splits(
    parts: dict[str, dict[str, np.ndarray]],
    names: Sequence[str],
    single: bool,
    encoder: Encoder,
    labels: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
    with_info: bool,
    **info: Any,
) -> Any:
    """The loaders' result: `encoder` fitted on the train split, then
    `(features, labels(columns))` for each split of `names` (one pair
    when `single`), followed by an info dict (`feature_names`, `sizes`
    and the `info` entries) when `with_info`."""
    encoder.fit(parts["train"])
    out = tuple((encoder.transform(parts[n]), labels(parts[n]))
                for n in names)
    result: Any = out[0] if single else out
    if not with_info:
        return result
    return result, {"feature_names": encoder.feature_names, **info,
                    "sizes": {n: num_rows(parts[n]) for n in SPLITS}}


def select_splits(split: str | Sequence[str]) -> tuple[list[str], bool]:
    """Normalises `split` to a list; True when one split was asked for."""
    single = isinstance(split, str)
    names: list[str] = [split] if isinstance(split, str) else [
        str(s) for s in split]
    for name in names:
        if name not in SPLITS:
            raise ValueError(
                f"Unknown split {name!r}. Use one of {SPLITS} or a tuple of "
                "them.")
    return names, single

