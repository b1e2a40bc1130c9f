import importlib.util
import pathlib

import keras_mtl

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(
        name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tune_sharing_depth_quick(tmp_path):
    result = _load("tune_sharing_depth").main(
        ["--quick", "--out", str(tmp_path)])
    assert set(result["results"]) == {0.9, -0.9}
    for correlation, run in result["results"].items():
        assert len(run["rows"]) == 2
        assert run["front"]
        assert set(run["baselines"]) == {"val_task_1_mae", "val_task_2_mae"}
        assert (tmp_path /
                f"tune_sharing_depth_rho{correlation:+.1f}.png").is_file()
        assert isinstance(run["model"], keras_mtl.MultiTaskModel)
    assert result["keras_path"].is_file()
    assert (result["export_path"] / "model.tflite").is_file()
    assert isinstance(result["differs"], bool)
