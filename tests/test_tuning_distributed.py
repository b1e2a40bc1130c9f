"""Keras Tuner's chief/worker mode on 127.0.0.1, one worker killed."""

import json
import os
import subprocess
import sys
import time

import pytest

from keras_mtl.tuning import distributed

SCRIPT = '''
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import keras_tuner

import keras_mtl
from keras_mtl import tuning
from keras_mtl.tuning import distributed

directory, marker = sys.argv[1], sys.argv[2]
x, y = keras_mtl.data.synthetic_mmoe(32, 0.5, seed=0)


class StallOnce(tuning.MultiTaskHyperModel):
    """The first worker to train a trial announces itself and hangs."""

    def fit(self, hp, model, *args, **kwargs):
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return super().fit(hp, model, *args, **kwargs)
        os.write(fd, os.environ["KERASTUNER_TUNER_ID"].encode())
        os.close(fd)
        time.sleep(600)


hypermodel = StallOnce(
    keras.Input((100,)),
    [keras_mtl.Task("task_1", "regression"),
     keras_mtl.Task("task_2", "regression")],
    trunk=(4,), widths=None, compile_options={"run_eagerly": True},
    fixed={"architecture": "hard", "weighting": "equal",
           "aggregator": "none"})
tuner = keras_tuner.RandomSearch(
    hypermodel, objective=tuning.task_objective("task_1", "loss"),
    max_trials=4, max_retries_per_trial=1, seed=0, directory=directory,
    project_name="dist", overwrite=distributed.is_chief())
distributed.search(tuner, x, y, validation_data=(x, y), epochs=1,
                   batch_size=32, verbose=0, heartbeat_interval=0.5,
                   heartbeat_timeout=4.0, grace=2.0)
print("done", os.environ["KERASTUNER_TUNER_ID"], flush=True)
'''


def test_environment_and_roles(monkeypatch):
    port = distributed.free_port()
    env = distributed.environment("tuner3", port)
    assert env == {"KERASTUNER_ORACLE_IP": "127.0.0.1",
                   "KERASTUNER_ORACLE_PORT": str(port),
                   "KERASTUNER_TUNER_ID": "tuner3"}
    for name in env:
        monkeypatch.delenv(name, raising=False)
    assert distributed.role() is None and distributed.is_chief()
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    with pytest.raises(RuntimeError, match="KERASTUNER_ORACLE_PORT"):
        distributed.role()
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    assert distributed.role() == "chief"
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner0")
    assert distributed.role() == "worker" and not distributed.is_chief()
    with pytest.raises(ValueError, match="port"):
        distributed.environment("tuner0", 0)


def test_chief_finishes_when_a_worker_dies_mid_trial(tmp_path):
    script = tmp_path / "tune.py"
    script.write_text(SCRIPT)
    marker = tmp_path / "stalled"
    directory = tmp_path / "search"
    log_path = tmp_path / "log.txt"
    with open(log_path, "w") as log, distributed.launch(
            [sys.executable, str(script), str(directory), str(marker)],
            num_workers=2, stdout=log, stderr=subprocess.STDOUT,
            env={"TF_CPP_MIN_LOG_LEVEL": "2",
                 "CUDA_VISIBLE_DEVICES": ""}) as cluster:
        deadline = time.monotonic() + 150
        while not (marker.exists() and marker.read_text()):
            assert cluster.chief.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        stalled = marker.read_text()
        cluster.workers[stalled].kill()  # mid-trial
        code = cluster.wait(timeout=150)
    output = log_path.read_text()
    assert code == 0, output
    assert f"worker {stalled} lost" in output

    project = directory / "dist"
    oracle = json.loads((project / "oracle.json").read_text())
    trials = {}
    for path in project.glob("trial_*/trial.json"):
        trial = json.loads(path.read_text())
        trials[trial["trial_id"]] = trial
    # Every trial ran and is recorded exactly once.
    assert len(trials) >= 4
    assert sorted(oracle["end_order"]) == sorted(trials)
    assert len(set(oracle["end_order"])) == len(oracle["end_order"])
    assert sorted(oracle["start_order"]) == sorted(trials)
    statuses = [t["status"] for t in trials.values()]
    assert set(statuses) <= {"COMPLETED", "FAILED"}, statuses
    # Only the lost trial may have failed (when no worker could retry
    # it); the surviving worker completed the others.
    assert statuses.count("COMPLETED") >= len(trials) - 1
    survivor = next(w for w in cluster.workers if w != stalled)
    assert f"done {survivor}" in output
    assert os.path.isdir(project)
