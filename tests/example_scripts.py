"""Loads a script of examples/ or benchmarks/ as a module, for smoke tests."""

import importlib.util
import pathlib
import types

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_script(name: str, folder: str = "examples") -> types.ModuleType:
    """Imports `<repo>/<folder>/<name>.py` and returns the module."""
    spec = importlib.util.spec_from_file_location(
        name, ROOT / folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
