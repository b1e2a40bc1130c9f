
from example_scripts import load_script

import keras_mtl


def test_tune_sharing_depth_quick(tmp_path):
    result = load_script("tune_sharing_depth").main(
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
