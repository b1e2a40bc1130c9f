"""Shared test set-up: quiet TensorFlow, fixed seeds, data folder paths."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gc  # noqa: E402
import pathlib  # noqa: E402

import hypothesis  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# In CI, property tests draw the same examples on every run (derandomize),
# so a submission's result does not depend on the luck of the draw.
hypothesis.settings.register_profile(
    "ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" \
    / "data"


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(0)
    yield
    # Keras's global state is reset after every test; the full garbage
    # collection (`free_memory=True`, about 0.5 s once TensorFlow holds a
    # few models) runs once per test module instead (`_collect_garbage`).
    keras.backend.clear_session(free_memory=False)


@pytest.fixture(autouse=True, scope="module")
def _collect_garbage():
    yield
    gc.collect()


@pytest.fixture
def shared_data():
    """The `../shared/data` folder; skips the test when it is absent,
    except in CI (`CI` set), where nothing may be skipped: it fails."""
    if not SHARED_DATA.is_dir():
        (pytest.fail if os.environ.get("CI") else pytest.skip)(
            f"{SHARED_DATA} is absent: this test needs the real datasets "
            "that live beside the checkout (see README, 'Data')."
        )
    return SHARED_DATA


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)
