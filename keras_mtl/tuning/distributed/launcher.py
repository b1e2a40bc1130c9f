"""Starting a chief and its workers as subprocesses: `launch`, `Cluster`."""

import os
import subprocess
import time
from typing import Any
from typing import Mapping
from typing import Sequence

from keras_mtl.tuning.distributed.roles import CHIEF_ID
from keras_mtl.tuning.distributed.roles import DEFAULT_IP
from keras_mtl.tuning.distributed.roles import environment
from keras_mtl.tuning.distributed.roles import free_port


class Cluster:
    """A chief and its workers running as subprocesses (see `launch`).

    Attributes:
        chief: The chief's `subprocess.Popen`.
        workers: The workers' `subprocess.Popen`s, by tuner id.
        port: The chief's port.
        ip: The chief's address.
    """

    def __init__(self, chief: subprocess.Popen,
                 workers: dict[str, subprocess.Popen], ip: str,
                 port: int) -> None:
        self.chief = chief
        self.workers = workers
        self.ip = ip
        self.port = port

    def wait(self, timeout: float | None = None,
             worker_grace: float = 30.0, chief_grace: float = 60.0,
             poll: float = 0.2) -> int:
        """Waits for the chief, then for the workers; returns the chief's
        exit code.

        Args:
            timeout: Seconds to wait for the chief (None: no limit). On
                timeout every process is stopped and
                `subprocess.TimeoutExpired` is raised.
            worker_grace: Seconds the workers get to exit after the chief;
                then they are killed.
            chief_grace: Seconds the chief gets to finish once every worker
                has exited (it ends the trials they left); then every
                process is stopped and RuntimeError is raised.
            poll: Seconds between checks.
        """
        start = time.monotonic()
        workers_gone_at = None
        while self.chief.poll() is None:
            now = time.monotonic()
            if timeout is not None and now - start > timeout:
                self.terminate()
                raise subprocess.TimeoutExpired(self.chief.args, timeout)
            if all(p.poll() is not None for p in self.workers.values()):
                workers_gone_at = workers_gone_at or now
                if now - workers_gone_at > chief_grace:
                    self.terminate()
                    raise RuntimeError(
                        "Every worker has exited but the chief did not "
                        f"finish within {chief_grace} s; stopped it. Check "
                        "the workers' output for errors."
                    )
            time.sleep(poll)
        code = self.chief.returncode
        deadline = time.monotonic() + worker_grace
        for process in self.workers.values():
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return code

    def terminate(self) -> None:
        """Stops every process still running."""
        for process in [self.chief, *self.workers.values()]:
            if process.poll() is None:
                process.kill()
                process.wait()

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.terminate()


def launch(command: Sequence[str], num_workers: int = 2,
           ip: str = DEFAULT_IP, port: int | None = None,
           env: Mapping[str, str] | None = None,
           worker_env: Mapping[str, Mapping[str, str]] | None = None,
           cwd: str | os.PathLike | None = None,
           stdout: Any = None, stderr: Any = None) -> Cluster:
    """Starts a chief and `num_workers` workers running `command`.

    Args:
        command: The program and arguments each process runs, e.g.
            `[sys.executable, "tune.py"]`; it calls
            `keras_mtl.tuning.distributed.search`.
        num_workers: Number of workers (ids `tuner0`, `tuner1`, ...).
        ip: The chief's address (default 127.0.0.1: this machine only).
        port: The chief's port (default: a free one).
        env: Extra environment variables for every process.
        worker_env: Extra variables per worker id.
        cwd: Working directory of the processes.
        stdout, stderr: As in `subprocess.Popen` (default: inherited).

    Returns:
        A `Cluster`; call `wait(timeout)` on it.
    """
    if not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(
            "Argument `num_workers` must be an int >= 1. Received: "
            f"num_workers={num_workers!r}."
        )
    port = free_port(ip) if port is None else port
    base = {**os.environ, **dict(env or {})}

    def start(tuner_id: str, extra: Mapping[str, str]) -> subprocess.Popen:
        return subprocess.Popen(
            list(command), cwd=cwd, stdout=stdout, stderr=stderr,
            env={**base, **dict(extra), **environment(tuner_id, port, ip)})

    chief = start(CHIEF_ID, {})
    workers = {}
    try:
        for i in range(num_workers):
            tuner_id = f"tuner{i}"
            workers[tuner_id] = start(
                tuner_id, (worker_env or {}).get(tuner_id, {}))
    except Exception:
        Cluster(chief, workers, ip, port).terminate()
        raise
    return Cluster(chief, workers, ip, port)
