from example_scripts import load_script


def test_quickstart_runs_end_to_end(tmp_path):
    result = load_script("quickstart").main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / "quickstart.keras").is_file()
    assert result["reload_diff"] == 0.0
    assert {"left_accuracy", "right_accuracy"} <= set(result["multi"])
    assert [row[0] for row in result["rows"]] == ["left", "right"]
    export_dir = tmp_path / "quickstart"
    assert (export_dir / "model.tflite").is_file()
    assert (export_dir / "saved_model").is_dir()


def test_quickstart_synthetic_option(tmp_path):
    result = load_script("quickstart").main(
        ["--quick", "--data", "synthetic", "--out", str(tmp_path)])
    assert {"task_1_mae", "task_2_mae"} <= set(result["multi"])
