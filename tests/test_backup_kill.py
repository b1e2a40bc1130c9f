"""A training process SIGKILLed inside checkpoint saves resumes exactly.

One backup folder, six processes in a chain (issue 15, part 5):

1. trains from scratch and is killed just before the third save renames
   its complete folder into place (the pointer still names save 2);
2. resumes, and is killed after its second save renamed its folder but
   before the pointer swap (a complete folder that nothing names);
3. resumes, and is killed while the weights of its second save are
   half-written;
4. and 5. resume, and are killed by this test at a seeded random moment
   after a seeded number of saves;
6. resumes, finishes, and trains the uninterrupted run in the same
   process for comparison.

Every process must resume from exactly the last committed save (its
optimizer step count is checked), and the chain must end with every
variable of the model, the optimizer, the weighting (DWA) and the
aggregator (GradVac, seeded) within 1e-6 of the uninterrupted run's, the
dropout masks included. Kills at the k-th file operation are
deterministic: the worker wraps `os.fsync`, `os.rename`, `os.replace`,
`shutil.rmtree` and `save_weights` while a save runs and SIGKILLs itself
before the chosen call. `enable_op_determinism()` is process-wide, hence
the subprocesses (this file run as a script).
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

STEPS, EPOCHS, BATCH = 6, 3, 8  # 18 steps, a save after each.


def _worker(backup: str, kill: str) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    import keras_mtl
    from keras_mtl.callbacks import BackupAndRestore

    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * BATCH, 5)).astype("float32")
    y = {"a": (rng.random((STEPS * BATCH, 1)) > 0.5).astype("float32"),
         "b": rng.normal(size=(STEPS * BATCH, 1)).astype("float32")}

    def make():
        keras.utils.set_random_seed(0)
        model = keras_mtl.build(
            keras.Input((5,)), [keras_mtl.Task("a", "binary"),
                                keras_mtl.Task("b", "regression")],
            trunk=(6,), dropout=0.2)
        model.compile(keras.optimizers.Adam(0.01), weighting="dwa",
                      aggregator=keras_mtl.aggregators.GradVac(seed=3))
        return model

    def fit(model, callbacks=()):
        model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0,
                  shuffle=False, callbacks=list(callbacks))

    def state(model):
        return [keras.ops.convert_to_numpy(v) for v in
                model.weights + model.optimizer.variables]

    op, _, count = kill.partition(":")
    calls = {"n": 0}
    inside = {"save": False}

    def hook(name, original):
        def wrapped(*args, **kwargs):
            if inside["save"] and name in (op, op.replace("_partial", "")):
                calls["n"] += 1
                if calls["n"] == int(count):
                    if op == "save_weights_partial":
                        original(*args, **kwargs)
                        path = args[1] if len(args) > 1 else \
                            kwargs["filepath"]
                        with open(path, "r+b") as f:
                            f.truncate(os.path.getsize(path) // 2)
                    os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)
        return wrapped

    for module, name in ((os, "fsync"), (os, "rename"), (os, "replace"),
                         (shutil, "rmtree")):
        setattr(module, name, hook(name, getattr(module, name)))
    keras.Model.save_weights = hook("save_weights", keras.Model.save_weights)
    save_backup = BackupAndRestore.save_backup

    def traced_save(self):
        inside["save"] = True
        save_backup(self)
        inside["save"] = False
        print("SAVED", flush=True)

    BackupAndRestore.save_backup = traced_save

    class Start(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            step = int(self.model.optimizer.iterations.numpy())
            print(f"START {step}", flush=True)

    model = make()
    fit(model, [BackupAndRestore(backup, save_freq=1), Start()])
    inside["save"] = False
    reference = make()
    fit(reference)
    gaps = [float(np.max(np.abs(a - b))) if a.size else 0.0
            for a, b in zip(state(model), state(reference))]
    print("RESULT " + json.dumps({
        "gaps": gaps, "backup_left": os.path.exists(backup),
        "names": [v.path for v in model.weights
                  + model.optimizer.variables]}), flush=True)


def _run(backup, kill="none:0", kill_after_saves=None, delay=0.0):
    """Runs one worker; returns (return code, its stdout lines)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen(
        [sys.executable, __file__, backup, kill], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    try:
        for line in process.stdout:
            lines.append(line.strip())
            if kill_after_saves is not None and \
                    lines.count("SAVED") == kill_after_saves:
                time.sleep(delay)
                process.send_signal(signal.SIGKILL)
                break
        process.wait(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines += process.stdout.read().splitlines()
    return process.returncode, lines, process.stderr.read()


def _start(lines):
    starts = [int(line.split()[1]) for line in lines
              if line.startswith("START ")]
    assert len(starts) == 1, lines
    return starts[0]


def test_sigkill_inside_saves_resumes_exactly(tmp_path):
    backup = str(tmp_path / "backup")
    # (kill before this call inside a save, step the process resumes at)
    chain = [("rename:3", 0),  # save 3 complete but not in place
             ("replace:2", 2),  # save 2 in place, the pointer not swapped
             ("save_weights_partial:2", 3)]  # save 2 half-written
    for kill, start in chain:
        code, lines, err = _run(backup, kill)
        assert code == -signal.SIGKILL, (kill, lines, err[-3000:])
        assert _start(lines) == start, (kill, lines)
    # Twice, a seeded random moment: after 1-3 more saves, within ~50 ms.
    draw, committed = random.Random(15), 4
    for _ in range(2):
        saves, delay = draw.randint(1, 3), draw.uniform(0.0, 0.05)
        code, lines, err = _run(backup, kill_after_saves=saves, delay=delay)
        assert code == -signal.SIGKILL, (lines, err[-3000:])
        # Resumed from the last committed save (the kill may have landed
        # after the next one committed but before it printed SAVED).
        assert _start(lines) in (committed, committed + 1), lines
        committed = _start(lines) + lines.count("SAVED")

    code, lines, err = _run(backup)
    assert code == 0, (lines, err[-3000:])
    assert _start(lines) in (committed, committed + 1), lines
    result = json.loads(next(
        line for line in lines if line.startswith("RESULT "))[7:])
    assert not result["backup_left"]
    worst = max(result["gaps"])
    where = result["names"][int(np.argmax(result["gaps"]))]
    assert worst <= 1e-6, f"{where} differs by {worst}"
    assert any("gradvac" in n for n in result["names"])
    assert any("dwa" in n for n in result["names"])


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
