"""Destinations of exports: refuse to clobber, write aside, then publish.

An export is written to a hidden staging folder beside its destination,
verified there, and only then moved into place, so that a failed conversion
or verification never leaves a half-written artifact under the requested
name. Replacing an existing artifact needs `overwrite=True`, and even then
only something that looks like the same kind of artifact is deleted.
"""

import os
import pathlib
import shutil
import tempfile
from types import TracebackType
from typing import Any

BUNDLE_MARKER = "export.json"
"""The file `export_all` writes into every bundle folder."""

_KINDS = ("saved_model", "tflite", "bundle")


def _looks_replaceable(path: pathlib.Path, kind: str) -> bool:
    if path.is_symlink():
        return False
    if kind == "tflite":
        return path.is_file()
    if not path.is_dir():
        return False
    if not any(path.iterdir()):
        return True
    if kind == "saved_model":
        return (path / "saved_model.pb").is_file()
    return (path / BUNDLE_MARKER).is_file()


def check_destination(path: Any, overwrite: bool, kind: str) -> pathlib.Path:
    """Validates an export destination and returns it as a `Path`.

    Args:
        path: Where the artifact goes.
        overwrite: Whether an existing artifact may be replaced.
        kind: `"saved_model"`, `"tflite"` or `"bundle"`.

    Raises:
        FileExistsError: `path` exists and `overwrite` is False, or it
            exists but is not an artifact of this kind (never deleted).
    """
    if kind not in _KINDS:
        raise ValueError(f"Unknown artifact kind {kind!r}; one of {_KINDS}.")
    path = pathlib.Path(os.fspath(path))
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise FileExistsError(
                f"Export destination '{path}' already exists. Pass "
                "overwrite=True (command line: --overwrite) to replace it, "
                "or choose another path."
            )
        if not _looks_replaceable(path, kind):
            what = {"saved_model": "a SavedModel folder (with "
                    "saved_model.pb)", "tflite": "a .tflite file",
                    "bundle": f"an export_all folder (with {BUNDLE_MARKER})"}
            raise FileExistsError(
                f"Export destination '{path}' exists and is not "
                f"{what[kind]} or an empty folder, so overwrite=True will "
                "not delete it. Choose another path or remove it yourself."
            )
    return path


class Staging:
    """A hidden staging location beside `destination`.

    Use as a context manager: write the artifact to `staging.path`, verify
    it, call `publish()`; leaving the block removes whatever is left.

    Args:
        destination: The final path of the artifact.
    """

    def __init__(self, destination: pathlib.Path) -> None:
        self.destination = destination
        self._folder: pathlib.Path | None = None

    def __enter__(self) -> "Staging":
        parent = self.destination.parent
        parent.mkdir(parents=True, exist_ok=True)
        self._folder = pathlib.Path(tempfile.mkdtemp(
            prefix=f".{self.destination.name}.", suffix=".partial",
            dir=parent))
        return self

    @property
    def path(self) -> pathlib.Path:
        """Where to write the artifact before publishing it."""
        if self._folder is None:
            raise RuntimeError("Use `Staging` as a context manager.")
        return self._folder / self.destination.name

    def publish(self) -> pathlib.Path:
        """Moves the staged artifact to its destination (replacing it)."""
        target = self.destination
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(self.path, target)
        return target

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


def artifact_size(path: pathlib.Path) -> int:
    """Size in bytes of a file, or of all files under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def artifact_kind(path: Any) -> tuple[str, pathlib.Path]:
    """What `path` holds: `"keras"`, `"tflite"`, `"saved_model"` or
    `"bundle"`, and the path itself.

    `keras-mtl export --format tflite --out saved_models/NAME` writes
    `saved_models/NAME.tflite`; when `path` does not exist but
    `path + ".tflite"` does, that file is the artifact (the returned path
    says so).

    Raises:
        FileNotFoundError: `path` is none of these, with what was looked
            for.
    """
    path = pathlib.Path(os.fspath(path))
    if path.is_file() and path.suffix in (".keras", ".tflite"):
        return path.suffix[1:], path
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return "saved_model", path
    if path.is_dir() and (path / BUNDLE_MARKER).is_file():
        return "bundle", path
    with_suffix = path.with_name(path.name + ".tflite")
    if not path.exists() and with_suffix.is_file():
        return "tflite", with_suffix
    found = ("it does not exist" if not path.exists()
             else "it is a folder without saved_model.pb or "
             f"{BUNDLE_MARKER}" if path.is_dir()
             else f"its suffix {path.suffix!r} is neither .keras nor .tflite")
    raise FileNotFoundError(
        f"'{path}' is not a model keras_mtl can read ({found}). Pass a "
        ".keras file, a .tflite file, a SavedModel folder (with "
        f"saved_model.pb) or an export_all bundle folder (with "
        f"{BUNDLE_MARKER}), e.g. the path `keras-mtl export` printed."
    )
