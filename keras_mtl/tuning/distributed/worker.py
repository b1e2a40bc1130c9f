"""A worker's search: `tuner.search` with heartbeats during each trial.

`search` is the one entry point of every process of a distributed
search: outside distributed mode it is `tuner.search`, in the chief it
serves the oracle, in a worker it searches with heartbeats.
"""

from typing import Any

import keras_tuner

from keras_mtl.tuning.distributed.chief import run_chief
from keras_mtl.tuning.distributed.heartbeat import Heartbeat
from keras_mtl.tuning.distributed.roles import role


def search(tuner: keras_tuner.Tuner, *fit_args: Any,
           heartbeat_interval: float = 2.0,
           heartbeat_timeout: float = 30.0,
           grace: float = 5.0, **fit_kwargs: Any) -> None:
    """`tuner.search(...)` in any role, with worker liveness checks.

    Outside distributed mode this is `tuner.search`. In the chief it
    serves the oracle (`run_chief`); in a worker it runs
    `tuner.search` while sending heartbeats during each trial.

    Args:
        tuner: A Keras Tuner tuner built in this process.
        *fit_args, **fit_kwargs: The arguments of `tuner.search`.
        heartbeat_interval: Seconds between a worker's heartbeats.
        heartbeat_timeout: Seconds of silence after which the chief ends a
            trial as lost; keep it several times `heartbeat_interval`.
        grace: Seconds the chief waits for workers after the last trial.
    """
    current = role()
    if current is None:
        tuner.search(*fit_args, **fit_kwargs)
        return
    if heartbeat_timeout <= heartbeat_interval:
        raise ValueError(
            "Argument `heartbeat_timeout` must exceed `heartbeat_interval`. "
            f"Received: heartbeat_timeout={heartbeat_timeout}, "
            f"heartbeat_interval={heartbeat_interval}."
        )
    if current == "chief":
        if "verbose" in fit_kwargs:
            tuner.oracle.verbose = fit_kwargs["verbose"]
        run_chief(tuner, heartbeat_timeout=heartbeat_timeout, grace=grace)
        return
    heartbeat = Heartbeat(heartbeat_interval)
    on_trial_begin, on_trial_end = tuner.on_trial_begin, tuner.on_trial_end

    def begin(trial: Any) -> None:
        heartbeat.start(trial.trial_id)
        on_trial_begin(trial)

    def end(trial: Any) -> None:
        # Stop beating before the trial is ended at the chief.
        heartbeat.stop()
        on_trial_end(trial)

    tuner.on_trial_begin = begin
    tuner.on_trial_end = end
    try:
        tuner.search(*fit_args, **fit_kwargs)
    finally:
        heartbeat.stop()
        tuner.on_trial_begin = on_trial_begin
        tuner.on_trial_end = on_trial_end
