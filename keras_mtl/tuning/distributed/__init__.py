"""Distributed search with Keras Tuner's own chief/worker mode.

Keras Tuner runs one *chief* process, which holds the oracle and answers
gRPC requests, and any number of *workers*, which ask it for trials, train
them and report back. Each process runs the same script; three environment
variables give each its role:

```
KERASTUNER_ORACLE_IP     address of the chief's server (here 127.0.0.1
                         by default: nothing listens beyond this machine)
KERASTUNER_ORACLE_PORT   its port
KERASTUNER_TUNER_ID      "chief" for the chief, a distinct id per worker
                         ("tuner0", "tuner1", ...)
```

Keras Tuner's chief waits for every worker it has seen to finish, so a
worker that dies mid-trial leaves it waiting forever. `search` adds the
missing liveness check without changing the protocol: workers send a
heartbeat (a read-only `GetTrial` request) while they run a trial, and the
chief ends a trial whose worker has been silent for `heartbeat_timeout`
seconds as failed (`INVALID`, so another worker retries it when the
tuner's `max_retries_per_trial` allows), forgets that worker, ignores any
late report of that trial, and shuts down once no trial is left. The chief
serves Keras Tuner's own gRPC servicer (private to Keras Tuner; reached
through `keras_mtl._compat.keras_tuner`, checked against keras-tuner 1.4,
which pyproject pins) with that bookkeeping added.

The parts, one module each: `roles` (the environment variables and which
role this process plays), `chief` (the gRPC servicer with the liveness
bookkeeping, `run_chief`), `heartbeat` (the worker's heartbeat thread),
`worker` (`search`, which runs either role) and `launcher` (`launch` and
`Cluster`, which start the processes).

Recipe (one script, three processes):

```python
# tune.py
import keras, keras_tuner, keras_mtl
from keras_mtl.tuning import distributed

hypermodel = keras_mtl.tuning.MultiTaskHyperModel(keras.Input((100,)), tasks)
tuner = keras_tuner.RandomSearch(
    hypermodel, objective=keras_mtl.tuning.task_objective("task_1", "loss"),
    max_trials=20, max_retries_per_trial=1, directory="tuning",
    project_name="mmoe", overwrite=distributed.is_chief())
distributed.search(tuner, x, y, validation_data=(x_val, y_val), epochs=5)
```

then either start the processes yourself (one shell each, same folder):

```
KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
    KERASTUNER_TUNER_ID=chief python tune.py
KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
    KERASTUNER_TUNER_ID=tuner0 python tune.py
KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 \\
    KERASTUNER_TUNER_ID=tuner1 python tune.py
```

or let `launch` do it:

```python
with distributed.launch(["python", "tune.py"], num_workers=2) as cluster:
    cluster.wait(timeout=3600)
```

All processes must see the same `directory` (a shared file system across
machines). Only the chief should overwrite it (`overwrite=is_chief()`).
To serve other machines, bind the chief to a reachable address
(`ip="0.0.0.0"` or the host's address) on a trusted network: the gRPC
channel is not authenticated.
"""

from keras_mtl.tuning.distributed.chief import run_chief
from keras_mtl.tuning.distributed.launcher import Cluster
from keras_mtl.tuning.distributed.launcher import launch
from keras_mtl.tuning.distributed.roles import CHIEF_ID
from keras_mtl.tuning.distributed.roles import DEFAULT_IP
from keras_mtl.tuning.distributed.roles import environment
from keras_mtl.tuning.distributed.roles import free_port
from keras_mtl.tuning.distributed.roles import is_chief
from keras_mtl.tuning.distributed.roles import role
from keras_mtl.tuning.distributed.worker import search

__all__ = [
    "CHIEF_ID",
    "Cluster",
    "DEFAULT_IP",
    "environment",
    "free_port",
    "is_chief",
    "launch",
    "role",
    "run_chief",
    "search",
]
