"""MultiDigits: two real handwritten digits side by side, two 10-class tasks.

Built from the 1,797 8x8 digits that scikit-learn ships inside its package
(`sklearn.datasets.load_digits`: Alpaydin and Kaynak's UCI optical
recognition of handwritten digits test set), so it needs no download. It is
the quick start's default data: a small image problem of the kind that ends
on a phone.
"""

import numpy as np

Split = tuple[np.ndarray, dict[str, np.ndarray]]


def _pairs(images: np.ndarray, labels: np.ndarray, count: int,
           rng: np.random.Generator) -> Split:
    left = rng.integers(0, len(images), size=count)
    right = rng.integers(0, len(images), size=count)
    x = np.concatenate([images[left], images[right]], axis=2)
    return x[..., None].astype("float32"), {
        "left": labels[left].astype("int32"),
        "right": labels[right].astype("int32"),
    }


def load_multidigits(
    num_train: int = 6000,
    num_test: int = 1000,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> tuple[Split, Split]:
    """Pairs of real digits side by side: images `(8, 16, 1)` in [0, 1].

    The 1,797 source digits are split first (`test_fraction` of them for
    test), so train and test pairs never share a source image.

    Args:
        num_train: int. Number of training pairs.
        num_test: int. Number of test pairs.
        test_fraction: float in (0, 1). Share of source digits kept for
            test pairs.
        seed: int. Seeds the split and the pairing.

    Returns:
        `((x_train, y_train), (x_test, y_test))` where `y_*` is
        `{"left": int labels, "right": int labels}`.

    Example:

    ```python
    (x, y), (x_test, y_test) = keras_mtl.data.load_multidigits(seed=0)
    ```
    """
    from sklearn.datasets import load_digits

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(
            "Argument `test_fraction` must be in (0, 1). Received: "
            f"test_fraction={test_fraction}."
        )
    for arg, value in (("num_train", num_train), ("num_test", num_test)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(
                f"Argument `{arg}` must be a positive int. Received: "
                f"{arg}={value!r}."
            )
    digits = load_digits()
    images = digits.images.astype("float32") / 16.0
    labels = digits.target
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    num_test_sources = int(round(test_fraction * len(images)))
    test_idx, train_idx = order[:num_test_sources], order[num_test_sources:]
    train = _pairs(images[train_idx], labels[train_idx], num_train, rng)
    test = _pairs(images[test_idx], labels[test_idx], num_test, rng)
    return train, test
