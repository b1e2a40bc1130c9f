"""UCI Adult: a small two-task stand-in for Census-Income (KDD).

Where to get the files: the UCI Machine Learning Repository, "Adult"
(Becker & Kohavi, 1996; CC BY 4.0), files `adult.data` (32,561 rows) and
`adult.test` (16,281 rows, first line `|1x3 Cross validator`, labels with a
trailing dot). Each row has 15 comma-separated fields: age, workclass,
fnlwgt, education, education_num, marital_status, occupation,
relationship, race, sex, capital_gain, capital_loss, hours_per_week,
native_country, income. Missing values are `?`.

Tasks (mirroring the MMoE census tasks):

```
income          1 iff income starts with ">50K"                  (~24%)
never_married   1 iff marital_status == "Never-married"          (~33%)
```

Features: workclass, education, occupation, race, sex and native_country
one-hot encoded (categories seen in training; `?` is its own category);
age, education_num, capital_gain, capital_loss and hours_per_week
standardised with training statistics. Dropped: `marital_status` (a
label's source), `relationship` (Husband/Wife/Own-child nearly determine
marital status, so it would leak the never_married label) and `fnlwgt` (a
census sampling weight, not an attribute of the person).

Splits: train and validation are a seeded cut of `adult.data`
(`validation_fraction`); test is `adult.test`. With only one of the files,
that file is re-split by `fractions`.
"""

import pathlib
from typing import Any
from typing import Sequence

import numpy as np

from keras_mtl.data import _tabular

COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education_num",
    "marital_status", "occupation", "relationship", "race", "sex",
    "capital_gain", "capital_loss", "hours_per_week", "native_country",
    "income",
)
CATEGORICAL = ("workclass", "education", "occupation", "race", "sex",
               "native_country")
NUMERIC = ("age", "education_num", "capital_gain", "capital_loss",
           "hours_per_week")
DROPPED = ("fnlwgt", "marital_status", "relationship", "income")
TASKS = ("income", "never_married")


def adult_labels(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The two tasks from the raw `income` and `marital_status` columns."""
    income = np.isin(columns["income"], [">50K", ">50K."])
    return {
        "income": income.astype("int32"),
        "never_married": (columns["marital_status"]
                          == "Never-married").astype("int32"),
    }


def load_adult(
    path: str | pathlib.Path,
    split: str | Sequence[str] = ("train", "validation", "test"),
    *,
    seed: int = 0,
    validation_fraction: float = 0.1,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    standardize: bool = True,
    with_info: bool = False,
) -> Any:
    """Loads UCI Adult as `(features, {task: labels})` splits.

    Args:
        path: A folder holding `adult.data[.gz]` and/or `adult.test[.gz]`,
            or the path of one such file.
        split: `"train"`, `"validation"`, `"test"` or a tuple of them.
        seed: int. Seeds the validation cut or the re-split.
        validation_fraction: float in [0, 1). Share of `adult.data` kept
            for validation.
        fractions: Train/validation/test shares when only one file exists.
        standardize: bool. Standardise the numeric features.
        with_info: bool. Also return `feature_names`, `protocol`, `files`
            and `sizes`.

    Returns:
        `(x, y)` for one split name, else a tuple of them (plus `info`).
        `x` is float32 `(N, D)`; `y` is `{"income": int32 (N,),
        "never_married": int32 (N,)}`.

    Example:

    ```python
    (x, y), (x_val, y_val), (x_test, y_test) = (
        keras_mtl.data.load_adult("../shared/data/adult"))
    ```

    References:
    - Becker, Kohavi (1996). Adult. UCI Machine Learning Repository.
      DOI 10.24432/C5XW20.
    """
    names, single = _tabular.select_splits(split)
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(
            "Argument `validation_fraction` must be in [0, 1). Received: "
            f"validation_fraction={validation_fraction}.")
    path = pathlib.Path(path)
    data_file: pathlib.Path | None
    test_file: pathlib.Path | None
    if path.is_file():
        data_file, test_file = path, None
    elif path.is_dir():
        data_file = _tabular.find_file(path, "adult.data")
        test_file = _tabular.find_file(path, "adult.test")
    else:
        data_file = test_file = None
    if data_file is None and test_file is None:
        raise FileNotFoundError(
            f"No Adult file at {str(path)!r}: expected adult.data[.gz] "
            "and/or adult.test[.gz] (UCI, 'Adult'), or one such file.")

    def read(file: pathlib.Path) -> dict[str, np.ndarray]:
        return _tabular.columns_of(
            _tabular.read_rows(file, len(COLUMNS)), COLUMNS)

    if data_file is not None and test_file is not None:
        table = read(data_file)
        train_idx, val_idx = _tabular.split_indices(
            _tabular.num_rows(table),
            (1.0 - validation_fraction, validation_fraction), seed)
        parts = {"train": _tabular.take(table, train_idx),
                 "validation": _tabular.take(table, val_idx),
                 "test": read(test_file)}
        protocol, files = "official", [str(data_file), str(test_file)]
    else:
        only = data_file if data_file is not None else test_file
        if only is None:  # unreachable: checked above
            raise FileNotFoundError(str(path))
        parts = _tabular.resplit(read(only), fractions, seed)
        protocol, files = "resplit", [str(only)]

    return _tabular.encoded_splits(
        parts, names, single,
        _tabular.Encoder(CATEGORICAL, NUMERIC, standardize), adult_labels,
        with_info, protocol=protocol, files=files)
