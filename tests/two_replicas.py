"""Runs a script in a fresh interpreter (one whose CPU the script splits
into logical devices: TensorFlow fixes its devices at initialisation)
and returns the JSON it prints after `RESULTS`."""

import json
import os
import subprocess
import sys


def results_of(script: str) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    completed = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True,
        text=True, env=env, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    line = [s for s in completed.stdout.splitlines()
            if s.startswith("RESULTS")][-1]
    return json.loads(line[len("RESULTS"):])
