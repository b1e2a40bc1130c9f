"""Census-Income (KDD): the two-task benchmark of the MMoE paper.

Where to get the files: the UCI Machine Learning Repository, "Census-Income
(KDD)" (Lane & Kohavi, 2000; CC BY 4.0), files `census-income.data.gz`
(199,523 rows) and `census-income.test.gz` (99,762 rows). Each row has 42
comma-separated fields: 40 attributes, `instance_weight` and the income
label.

Tasks (the MMoE paper's "group 1"):

```
income          1 iff income_50k == "50000+."          (about 6% positive)
never_married   1 iff marital_stat == "Never married"   (about 43% positive)
```

Features: the 29 categorical attributes one-hot encoded (categories seen in
the training rows), and the 10 numeric attributes standardised with the
training mean and standard deviation. `instance_weight` is dropped (UCI:
"should not be used in the classifiers"), and so is `marital_stat`, the
source of a label. `det_hh_fam_stat`, `det_hh_summ` and `tax_filer_stat`
nearly determine marital status; the papers keep them and so does this
loader, so quote the leak with any never_married number.

Splits:

- both files present (the paper's protocol): train is the training file;
  the test file is split 1:1, seeded, into validation and test;
- only one file present (as in `../shared/data/census_income`, which holds
  the test file only): a seeded re-split of that file by `fractions`
  (default 80/10/10). Numbers from it are not comparable with papers that
  train on the 199,523-row training file.
"""

import pathlib
from typing import Any
from typing import Sequence

import numpy as np

from keras_mtl.data import _tabular

COLUMNS = (
    "age", "class_worker", "det_ind_code", "det_occ_code", "education",
    "wage_per_hour", "hs_college", "marital_stat", "major_ind_code",
    "major_occ_code", "race", "hisp_origin", "sex", "union_member",
    "unemp_reason", "full_or_part_emp", "capital_gains", "capital_losses",
    "stock_dividends", "tax_filer_stat", "region_prev_res",
    "state_prev_res", "det_hh_fam_stat", "det_hh_summ", "instance_weight",
    "mig_chg_msa", "mig_chg_reg", "mig_move_reg", "mig_same",
    "mig_prev_sunbelt", "num_emp", "fam_under_18", "country_father",
    "country_mother", "country_self", "citizenship", "own_or_self",
    "vet_question", "vet_benefits", "weeks_worked", "year", "income_50k",
)
CATEGORICAL = (
    "class_worker", "det_ind_code", "det_occ_code", "education",
    "hs_college", "major_ind_code", "major_occ_code", "race", "hisp_origin",
    "sex", "union_member", "unemp_reason", "full_or_part_emp",
    "tax_filer_stat", "region_prev_res", "state_prev_res",
    "det_hh_fam_stat", "det_hh_summ", "mig_chg_msa", "mig_chg_reg",
    "mig_move_reg", "mig_same", "mig_prev_sunbelt", "fam_under_18",
    "country_father", "country_mother", "country_self", "citizenship",
    "vet_question",
)
NUMERIC = (
    "age", "wage_per_hour", "capital_gains", "capital_losses",
    "stock_dividends", "num_emp", "own_or_self", "vet_benefits",
    "weeks_worked", "year",
)
TASKS = ("income", "never_married")
TRAIN_FILE = "census-income.data"
TEST_FILE = "census-income.test"


def census_income_labels(
    columns: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The two MMoE tasks from the raw `income_50k` and `marital_stat`."""
    income = np.isin(columns["income_50k"], ["50000+.", "50000+"])
    return {
        "income": income.astype("int32"),
        "never_married": (columns["marital_stat"]
                          == "Never married").astype("int32"),
    }


def _read(path: pathlib.Path) -> dict[str, np.ndarray]:
    # DeepCTR's 200-row sample has the training-file row index in front.
    rows = _tabular.read_rows(path, len(COLUMNS), extra_leading=1)
    return _tabular.columns_of(rows, COLUMNS)


def load_census_income(
    path: str | pathlib.Path,
    split: str | Sequence[str] = ("train", "validation", "test"),
    *,
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    standardize: bool = True,
    with_info: bool = False,
) -> Any:
    """Loads Census-Income (KDD) as `(features, {task: labels})` splits.

    Args:
        path: A folder holding `census-income.data[.gz]` and/or
            `census-income.test[.gz]`, or the path of one such file.
        split: `"train"`, `"validation"`, `"test"` or a tuple of them.
        seed: int. Seeds the validation/test cut or the re-split.
        fractions: Train/validation/test shares of the re-split used when
            only one file is available.
        standardize: bool. Standardise the numeric features.
        with_info: bool. Also return a dict with `feature_names`,
            `protocol` (`"paper"` or `"resplit"`), `files` and `sizes`.

    Returns:
        `(x, y)` for one split name, else a tuple of them (plus `info`
        with `with_info=True`). `x` is float32 `(N, D)`; `y` is
        `{"income": int32 (N,), "never_married": int32 (N,)}`.

    Example:

    ```python
    (x, y), (x_val, y_val), (x_test, y_test) = (
        keras_mtl.data.load_census_income("../shared/data/census_income"))
    ```

    References:
    - Ma, Zhao, Yi, Chen, Hong, Chi (2018). Modeling Task Relationships in
      Multi-task Learning with Multi-gate Mixture-of-Experts. KDD.
    - Lane, Kohavi (2000). Census-Income (KDD). UCI Machine Learning
      Repository. DOI 10.24432/C5N30T.
    """
    names, single = _tabular.select_splits(split)
    path = pathlib.Path(path)
    train_file: pathlib.Path | None
    test_file: pathlib.Path | None
    if path.is_file():
        train_file, test_file = None, path
    elif path.is_dir():
        train_file = _tabular.find_file(path, TRAIN_FILE)
        test_file = _tabular.find_file(path, TEST_FILE)
        if test_file is None:
            train_file, test_file = None, train_file
    else:
        train_file = test_file = None
    if test_file is None:
        raise FileNotFoundError(
            f"No Census-Income file at {str(path)!r}: expected "
            f"{TRAIN_FILE}[.gz] and/or {TEST_FILE}[.gz] (UCI, "
            "'Census-Income (KDD)'), or the path of one such file.")

    if train_file is not None:
        train = _read(train_file)
        rest = _read(test_file)
        halves = _tabular.split_indices(
            _tabular.num_rows(rest), (0.5, 0.5), seed)
        parts = {"train": train,
                 "validation": _tabular.take(rest, halves[0]),
                 "test": _tabular.take(rest, halves[1])}
        protocol, files = "paper", [str(train_file), str(test_file)]
    else:
        parts = _tabular.resplit(_read(test_file), fractions, seed)
        protocol, files = "resplit", [str(test_file)]

    return _tabular.encoded_splits(
        parts, names, single,
        _tabular.Encoder(CATEGORICAL, NUMERIC, standardize),
        census_income_labels, with_info, protocol=protocol, files=files)
