"""How many examples of each task an epoch of `from_task_datasets` holds.

Sampling rates, for task sizes `N_t` and `T` tasks:

```
proportional   p_t = N_t / sum_s N_s
uniform        p_t = 1 / T
temperature    p_t = N_t^(1/tau) / sum_s N_s^(1/tau)        (tau >= 1 flattens)
annealed       p_t = N_t^a_e / sum_s N_s^a_e,
               a_e = 1 - (1 - final_alpha) * e / (E - 1)    (epoch e of E)
exhaustive     every example of every task exactly once per epoch
```

Each task gets exactly `round(p_t * examples_per_epoch)` examples
(`allocate`: largest remainders, at least one for every task with
`p_t > 0`).
"""

import math
from typing import Mapping

import numpy as np
import tensorflow as tf

SAMPLINGS = ("proportional", "uniform", "temperature", "annealed",
             "exhaustive")


def sampling_probabilities(
    sizes: Mapping[str, int],
    sampling: str | Mapping[str, float] = "proportional",
    *,
    temperature: float = 2.0,
    epoch: int = 0,
    epochs: int | None = None,
    final_alpha: float = 0.2,
) -> dict[str, float]:
    """The rate at which each task is drawn (see the module docstring).

    Args:
        sizes: dict `{task: number of examples}`.
        sampling: `"proportional"`, `"uniform"`, `"temperature"`,
            `"annealed"`, `"exhaustive"` (rates proportional to size), or a
            dict `{task: non-negative weight}` giving the rates directly.
        temperature: float >= 1 in practice (> 0 accepted). The `tau` of
            temperature sampling; 1 is proportional, large is uniform.
        epoch: int. The 0-based epoch, for annealed sampling.
        epochs: int. The total number of epochs `E`, for annealed sampling.
        final_alpha: float in [0, 1]. The exponent reached in the last
            epoch of annealed sampling (Stickland & Murray use 0.2).

    Returns:
        dict `{task: probability}` summing to 1.

    References:
    - Arivazhagan, Bapna, Firat, Lepikhin, Johnson, et al. (2019).
      Massively Multilingual Neural Machine Translation in the Wild:
      Findings and Challenges. arXiv:1907.05019. (Temperature sampling.)
    - Stickland, Murray (2019). BERT and PALs: Projected Attention Layers
      for Efficient Adaptation in Multi-Task Learning. ICML.
      arXiv:1902.02671. (Annealed sampling.)
    """
    names = list(sizes)
    counts = np.array([sizes[n] for n in names], dtype="float64")
    if np.any(counts < 0):
        raise ValueError(
            f"Task sizes must be >= 0. Received: sizes={dict(sizes)}.")
    if isinstance(sampling, Mapping):
        unknown = sorted(set(sampling) - set(names))
        missing = sorted(set(names) - set(sampling))
        if unknown or missing:
            raise ValueError(
                "A `sampling` dict must give one weight per task. Unknown "
                f"task(s): {unknown}; tasks without a weight: {missing}. "
                f"Tasks: {names}."
            )
        raw = np.array([float(sampling[n]) for n in names])
        if np.any(raw < 0) or not np.isfinite(raw).all():
            raise ValueError(
                "Sampling weights must be finite and >= 0. Received: "
                f"sampling={dict(sampling)}."
            )
    elif sampling in ("proportional", "exhaustive"):
        raw = counts
    elif sampling == "uniform":
        raw = (counts > 0).astype("float64")
    elif sampling == "temperature":
        if not temperature > 0:
            raise ValueError(
                "Argument `temperature` must be > 0. Received: "
                f"temperature={temperature}."
            )
        raw = counts ** (1.0 / temperature)
    elif sampling == "annealed":
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(
                "Annealed sampling needs the total number of epochs. "
                f"Received: epochs={epochs!r}. Pass epochs=E (the same E "
                "as in model.fit)."
            )
        if not 0.0 <= final_alpha <= 1.0:
            raise ValueError(
                "Argument `final_alpha` must be in [0, 1]. Received: "
                f"final_alpha={final_alpha}."
            )
        progress = epoch / (epochs - 1) if epochs > 1 else 0.0
        alpha = 1.0 - (1.0 - final_alpha) * min(max(progress, 0.0), 1.0)
        raw = np.where(counts > 0, counts ** alpha, 0.0)
    else:
        raise ValueError(
            f"Argument `sampling` must be one of {SAMPLINGS} or a dict "
            f"{{task: weight}}. Received: sampling={sampling!r}."
        )
    total = raw.sum()
    if total <= 0:
        raise ValueError(
            "The sampling rates are all zero: no task can be drawn. "
            f"Received: sizes={dict(sizes)}, sampling={sampling!r}."
        )
    return {n: float(r / total) for n, r in zip(names, raw)}


def allocate(probabilities: Mapping[str, float], total: int) -> np.ndarray:
    """Splits `total` draws by largest remainders, each rate > 0 getting 1+.

    Returns an int64 array of counts in the order of `probabilities`.
    """
    p = np.array(list(probabilities.values()), dtype="float64")
    exact = p * total
    counts = np.floor(exact).astype("int64")
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    for t in np.flatnonzero((p > 0) & (counts == 0)):
        donor = int(np.argmax(counts))
        if counts[donor] > 1:
            counts[donor] -= 1
            counts[t] += 1
    return counts


def epoch_steps(sizes: Mapping[str, int], batch_size: int) -> int:
    """The default epoch length: `ceil(sum of task sizes / batch_size)`."""
    return max(1, math.ceil(sum(int(s) for s in sizes.values()) / batch_size))


def dataset_sizes(datasets: Mapping[str, tf.data.Dataset]) -> dict[str, int]:
    """Each dataset's number of examples, from its known cardinality."""
    sizes = {}
    for name, ds in datasets.items():
        n = int(ds.cardinality())
        if n < 0:
            kind = "infinite" if n == int(tf.data.INFINITE_CARDINALITY) \
                else "unknown"
            raise ValueError(
                f"Task {name!r}: the dataset's size is {kind}, and sampling "
                "needs each task's size. Pass sizes={task: n}, or give the "
                "dataset a size with "
                "ds.apply(tf.data.experimental.assert_cardinality(n))."
            )
        sizes[name] = n
    return sizes
