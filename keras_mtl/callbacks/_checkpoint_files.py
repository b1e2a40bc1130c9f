"""Atomic, verified checkpoint folders (the storage of `BackupAndRestore`).

A backup folder holds complete checkpoints and one pointer to the latest:

```
backup_dir/
    checkpoint.json          {"latest": "ckpt-000007", "previous": null}
    ckpt-000007/
        model.weights.h5     (whatever the writer put in the folder)
        progress.npz
        manifest.json        bytes and SHA-256 of every other file
```

A save writes every file into a fresh hidden folder, flushes each to disk
(`fsync`), writes the manifest last, renames the folder to its final
name and only then swaps the pointer with an atomic `os.replace`. A
process killed at any moment leaves the pointer on the previous complete
checkpoint or on the new one, never on a mix; what the kill left behind
(hidden folders, a renamed folder the pointer never reached) is removed
when training starts again. A restore checks every file against the
manifest, so a missing, truncated or altered file stops training with a
`CheckpointError` that names the file instead of resuming from a state
that the interrupted run never had.

The same write-then-rename-then-swap pattern is what databases and
`git` use for atomic updates on POSIX file systems (`rename(2)` replaces
its target atomically).
"""

import hashlib
import json
import os
import shutil
import uuid
import warnings
from typing import Any
from typing import Callable

POINTER = "checkpoint.json"
MANIFEST = "manifest.json"
FORMAT = "keras_mtl.BackupAndRestore/1"
_FOLDER = "ckpt-"
_HIDDEN = ".tmp-"
_DELETING = ".deleting"  # Marks a backup whose deletion was interrupted.


class CheckpointError(RuntimeError):
    """A backup folder cannot be resumed from: a file of its checkpoint is
    missing, truncated or altered, or it was written in another layout."""


def _fix(backup_dir: str) -> str:
    return (f" Resuming from it would not continue the interrupted run. "
            f"Delete the folder {backup_dir!r} to start training over (or "
            "put the file back from a copy of the folder).")


def _sync_file(path: str) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _sync_folder(path: str) -> None:
    """Makes a rename or a new entry in `path` durable (POSIX only)."""
    if os.name != "posix":
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_synced(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _seal(content: dict[str, Any]) -> str:
    """JSON text holding `content` and the SHA-256 of its canonical form,
    so that a changed byte is caught even where the JSON still parses."""
    canonical = json.dumps(content, sort_keys=True)
    return json.dumps({"content": content, "sha256": hashlib.sha256(
        canonical.encode()).hexdigest()}, indent=1)


def _unseal(path: str) -> dict[str, Any]:
    """The content of a file written with `_seal`; `ValueError` when the
    file is not valid JSON or its checksum does not match."""
    with open(path, encoding="utf-8") as f:
        sealed = json.load(f)
    if not isinstance(sealed, dict) or set(sealed) != {"content", "sha256"}:
        raise ValueError("not a checksummed JSON file")
    canonical = json.dumps(sealed["content"], sort_keys=True)
    if hashlib.sha256(canonical.encode()).hexdigest() != sealed["sha256"]:
        raise ValueError("its content does not match its checksum")
    if not isinstance(sealed["content"], dict):
        raise ValueError("its content is not a JSON object")
    return sealed["content"]


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _number(name: str) -> int:
    suffix = name[len(_FOLDER):]
    return int(suffix) if name.startswith(_FOLDER) and suffix.isdigit() \
        else -1


def write_checkpoint(
    backup_dir: str,
    write_files: Callable[[str], None],
    metadata: dict[str, Any],
    keep_previous: bool = False,
) -> str:
    """Writes one checkpoint atomically and points the backup at it.

    Args:
        backup_dir: The backup folder (created when absent).
        write_files: Called with an empty folder to write the files into.
        metadata: JSON values stored in the manifest (epoch, batch, ...).
        keep_previous: Keep the checkpoint the pointer named until now as
            a fallback (`double_checkpoint`).

    Returns:
        The new checkpoint's folder.
    """
    os.makedirs(backup_dir, exist_ok=True)
    if not os.path.exists(os.path.join(backup_dir, POINTER)):
        # A pointer to nothing first: from now on a missing pointer means
        # a damaged backup, not a first save that was interrupted.
        _swap_pointer(backup_dir, {"latest": None, "previous": None})
    hidden = os.path.join(backup_dir, _HIDDEN + uuid.uuid4().hex)
    os.makedirs(hidden)
    write_files(hidden)
    files = {}
    for name in sorted(os.listdir(hidden)):
        path = os.path.join(hidden, name)
        _sync_file(path)
        files[name] = {"bytes": os.path.getsize(path),
                       "sha256": _sha256(path)}
    manifest = {"format": FORMAT, **metadata, "files": files}
    _write_synced(os.path.join(hidden, MANIFEST), _seal(manifest))
    _sync_folder(hidden)

    number = 1 + max([_number(n) for n in os.listdir(backup_dir)] + [0])
    name = f"{_FOLDER}{number:06d}"
    os.rename(hidden, os.path.join(backup_dir, name))
    _sync_folder(backup_dir)

    previous = _read_pointer(backup_dir)["latest"] if keep_previous else None
    _swap_pointer(backup_dir, {"latest": name, "previous": previous})
    remove_leftovers(backup_dir, keep=(name, previous))
    return os.path.join(backup_dir, name)


def _swap_pointer(backup_dir: str, pointer: dict[str, Any]) -> None:
    """Replaces the pointer file atomically: the commit of a save."""
    staged = os.path.join(backup_dir, POINTER + _HIDDEN)
    _write_synced(staged, _seal(pointer))
    os.replace(staged, os.path.join(backup_dir, POINTER))
    _sync_folder(backup_dir)


def _read_pointer(backup_dir: str) -> dict[str, Any]:
    path = os.path.join(backup_dir, POINTER)
    if not os.path.exists(path):
        raise CheckpointError(
            f"The backup folder {backup_dir!r} holds checkpoint files but "
            f"its pointer file {path!r}, which names the checkpoint to "
            "resume from, is missing." + _fix(backup_dir))
    try:
        pointer = _unseal(path)
        if set(pointer) != {"latest", "previous"} or not all(
                pointer[k] is None or _number(str(pointer[k])) >= 0
                for k in pointer):
            raise ValueError(f"unexpected content {pointer!r}")
    except (OSError, ValueError) as error:
        raise CheckpointError(
            f"The pointer file {path!r} of the backup folder is damaged "
            f"({error})." + _fix(backup_dir)) from error
    return pointer


def verify_checkpoint(backup_dir: str, name: str) -> dict[str, Any]:
    """Checks every file of checkpoint `name` against its manifest.

    Returns:
        The manifest. Raises `CheckpointError` naming the first file that
        is missing, of the wrong size or with the wrong SHA-256.
    """
    folder = os.path.join(backup_dir, name)
    path = os.path.join(folder, MANIFEST)
    if not os.path.isdir(folder):
        raise CheckpointError(
            f"The checkpoint folder {folder!r} named by "
            f"{os.path.join(backup_dir, POINTER)!r} is missing."
            + _fix(backup_dir))
    try:
        manifest = _unseal(path)
        if manifest.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} manifest")
        files = manifest["files"]
    except FileNotFoundError as error:
        raise CheckpointError(
            f"The manifest {path!r} of the checkpoint is missing."
            + _fix(backup_dir)) from error
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(
            f"The manifest {path!r} of the checkpoint is damaged "
            f"({error})." + _fix(backup_dir)) from error
    for file, expected in files.items():
        file_path = os.path.join(folder, file)
        if not os.path.isfile(file_path):
            raise CheckpointError(
                f"The checkpoint file {file_path!r} is missing."
                + _fix(backup_dir))
        size = os.path.getsize(file_path)
        if size != expected["bytes"]:
            raise CheckpointError(
                f"The checkpoint file {file_path!r} is truncated or damaged: "
                f"it holds {size} bytes, its manifest records "
                f"{expected['bytes']}." + _fix(backup_dir))
        if _sha256(file_path) != expected["sha256"]:
            raise CheckpointError(
                f"The checkpoint file {file_path!r} is damaged: its SHA-256 "
                "differs from the one its manifest records."
                + _fix(backup_dir))
    return manifest


def read_checkpoint(
    backup_dir: str, finish_deletion: bool = True,
) -> tuple[str, dict[str, Any]] | None:
    """The folder and manifest of the checkpoint to resume from, verified.

    Returns None when there is nothing to resume from: no backup folder,
    an empty one, one whose first save was interrupted before its commit,
    or one whose deletion after training was interrupted (it is finished
    here).
    """
    if not os.path.isdir(backup_dir):
        return None
    entries = os.listdir(backup_dir)
    if _DELETING in entries:
        if finish_deletion:
            delete_backup(backup_dir)
        return None
    if POINTER not in entries:
        written = [e for e in entries if not e.startswith(_HIDDEN)
                   and not e.startswith(POINTER)]
        if not written:  # Killed during the first save: nothing written.
            return None
        if "latest.weights.h5" in written or \
                "training_metadata.json" in written:
            raise CheckpointError(
                f"The backup folder {backup_dir!r} holds a backup written by "
                "keras.callbacks.BackupAndRestore or by an earlier "
                "keras_mtl (latest.weights.h5 without a manifest): it cannot "
                "be verified. Finish that run with the callback that wrote it, "
                f"or delete the folder {backup_dir!r} to start training "
                "over.")
    pointer = _read_pointer(backup_dir)
    if pointer["latest"] is None:
        return None
    try:
        return (os.path.join(backup_dir, pointer["latest"]),
                verify_checkpoint(backup_dir, pointer["latest"]))
    except CheckpointError as error:
        previous = pointer.get("previous")
        if not previous:
            raise
        try:
            manifest = verify_checkpoint(backup_dir, previous)
        except CheckpointError:
            raise error from None
        warnings.warn(
            f"{error.args[0].split(' Resuming')[0]} Resuming from the "
            f"previous checkpoint {previous!r} instead (double_checkpoint="
            "True): the batches trained after it are trained again.",
            stacklevel=3)
        return os.path.join(backup_dir, previous), manifest


def remove_leftovers(backup_dir: str, keep: tuple | None = None) -> None:
    """Removes what interrupted saves left: hidden folders, a staged
    pointer, and checkpoint folders that the pointer does not name.

    Args:
        keep: The checkpoint folders to keep; defaults to those the
            pointer names.
    """
    if keep is None:
        pointer = _read_pointer(backup_dir) \
            if os.path.exists(os.path.join(backup_dir, POINTER)) else {}
        keep = tuple(pointer.values())
    for entry in os.listdir(backup_dir):
        if entry in keep or entry == POINTER:
            continue
        if entry.startswith((_HIDDEN, _FOLDER, POINTER + _HIDDEN)):
            path = os.path.join(backup_dir, entry)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)


def delete_backup(backup_dir: str) -> None:
    """Deletes a backup folder so that a kill at any moment leaves either
    the whole backup or a folder marked as being deleted."""
    if not os.path.isdir(backup_dir):
        return
    marker = os.path.join(backup_dir, _DELETING)
    if os.path.exists(os.path.join(backup_dir, POINTER)):
        os.replace(os.path.join(backup_dir, POINTER), marker)
    elif not os.path.exists(marker):
        _write_synced(marker, "")
    _sync_folder(backup_dir)
    for entry in os.listdir(backup_dir):
        if entry != _DELETING:
            path = os.path.join(backup_dir, entry)
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
    os.remove(marker)
    os.rmdir(backup_dir)
