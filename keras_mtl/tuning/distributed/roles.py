"""Which role this process plays in a distributed search.

Keras Tuner reads three environment variables: the chief's address and
port, and the process's tuner id (`"chief"` for the chief).
"""

import os
import socket

DEFAULT_IP = "127.0.0.1"
CHIEF_ID = "chief"
ORACLE_IP = "KERASTUNER_ORACLE_IP"
ORACLE_PORT = "KERASTUNER_ORACLE_PORT"
TUNER_ID = "KERASTUNER_TUNER_ID"


def free_port(ip: str = DEFAULT_IP) -> int:
    """A TCP port that is free on `ip` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((ip, 0))
        return int(sock.getsockname()[1])


def environment(tuner_id: str, port: int, ip: str = DEFAULT_IP
                ) -> dict[str, str]:
    """The three Keras Tuner variables for one process."""
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(
            f"Argument `port` must be an int in (0, 65536). Received: "
            f"port={port!r}."
        )
    return {ORACLE_IP: ip, ORACLE_PORT: str(port),
            TUNER_ID: str(tuner_id)}


def role() -> str | None:
    """`"chief"`, `"worker"`, or None when not in distributed mode."""
    if ORACLE_IP not in os.environ:
        return None
    missing = [v for v in (ORACLE_PORT, TUNER_ID)
               if v not in os.environ]
    if missing:
        raise RuntimeError(
            f"{ORACLE_IP} is set but {missing} are not. Set all three of "
            f"{ORACLE_IP}, {ORACLE_PORT} and {TUNER_ID} (see "
            "keras_mtl.tuning.distributed)."
        )
    return "chief" if CHIEF_ID in os.environ[TUNER_ID] else "worker"


def is_chief() -> bool:
    """True in the chief process (and outside distributed mode, where the
    only process plays both roles)."""
    return role() in (None, "chief")
