"""No module of keras_mtl outside `keras_mtl/_compat` uses a private name
of another package (Keras, TensorFlow, Keras Tuner, LiteRT, ...).

An upgrade of a dependency may rename or drop any of its private names;
keeping them all behind `keras_mtl._compat` (one small function each, with
the versions it was checked against) makes that list findable. This test
reads every module of the package (its syntax tree, plus the classes it
defines at run time) and reports:

1. Imports of private modules or names: a module path of another package
   with a component `src`, `python` (TensorFlow's implementation tree),
   `__internal__` or one starting with `_`, and `from X import _name`.
2. Any `__internal__` attribute (`tf.__internal__...`).
3. Attribute accesses `obj._name` (and `getattr(obj, "_name")`, `hasattr`,
   `setattr`, `delattr`) of a name keras_mtl does not define itself:
   - on `self`, `cls` or `super()` inside a class, the name must be
     defined by that class or one of its keras_mtl base classes (a
     method, a class attribute, or an assignment `self._name = ...`);
   - on any other object, the name must be defined somewhere in keras_mtl
     (a private module, function, class attribute or assigned attribute).
4. Collisions: a keras_mtl class that defines or assigns a private name
   that one of its base classes from another package also defines (a
   method override such as `_maybe_symbolic_build`, or an instance
   attribute the base class sets such as `_current_epoch`). Overriding a
   private method is using it.

Names assigned or defined inside `keras_mtl/_compat` do not count as
keras_mtl's own (they are the foreign ones). One gap is known: on an
object other than `self` the scan cannot know the object's type, so a
foreign private name that keras_mtl also defines for one of its own
classes passes there (rule 4 still catches it on that class).

`ALLOWED` lists the only exceptions (none today): private attributes that
are keras_mtl's own but that the rules above cannot tell apart from a
foreign one, as `(module path under keras_mtl/, name): reason`. Keep it
small; a foreign private name belongs in `keras_mtl/_compat` instead.
`test_scan_finds_each_kind_of_private_use` checks the scan itself on a
probe package.
"""

import ast
import importlib
import inspect
import pathlib
import re
from typing import Iterator

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "keras_mtl"
COMPAT = PACKAGE / "_compat"

# (module path relative to keras_mtl/, name) -> why it is keras_mtl's own.
ALLOWED: dict[tuple[str, str], str] = {}

_PRIVATE_PATH_PARTS = {"src", "__internal__"}
_SELF_NAMES = {"self", "cls"}
_ATTR_FUNCTIONS = {"getattr", "hasattr", "setattr", "delattr"}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _module_name(path: pathlib.Path, package: pathlib.Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private_module_path(module: str, own: str) -> bool:
    parts = module.split(".")
    if parts[0] == own:
        return False
    rest = parts[1:]
    return any(p in _PRIVATE_PATH_PARTS or _is_private(p) for p in rest) or (
        parts[0] == "tensorflow" and rest[:1] == ["python"])


class _ClassNames(ast.NodeVisitor):
    """The private names each class defines: methods, class attributes
    and `self._name = ...` assignments in its methods."""

    def __init__(self) -> None:
        self.by_class: dict[str, set[str]] = {}
        self.stack: list[str] = []

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        qualname = ".".join(self.stack + [node.name])
        names = self.by_class.setdefault(qualname, set())
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(item.name)
            for target in _assigned_names(item):
                names.add(target)
            for sub in ast.walk(item):
                if (isinstance(sub, ast.Attribute)
                        and isinstance(sub.ctx, (ast.Store, ast.Del))
                        and isinstance(sub.value, ast.Name)
                        and sub.value.id in _SELF_NAMES):
                    names.add(sub.attr)
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.stack.append(node.name + ".<locals>")
        self.generic_visit(node)
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]


def _assigned_names(node: ast.AST) -> Iterator[str]:
    targets: list[ast.AST] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    for target in targets:
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name):
                yield sub.id


def _trees(package: pathlib.Path) -> dict[pathlib.Path, ast.Module]:
    return {p: ast.parse(p.read_text(), str(p))
            for p in sorted(package.rglob("*.py"))}


def _defined_anywhere(package: pathlib.Path,
                      trees: dict[pathlib.Path, ast.Module]) -> set[str]:
    """Every private name the package itself defines, in any module."""
    names = {p.stem for p in trees}
    names |= {p.parent.name for p in trees}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                 ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(
                    node.ctx, (ast.Store, ast.Del)):
                names.add(node.attr)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            names.update(_assigned_names(node))
    return {n for n in names if _is_private(n)}


def _class_index(package: pathlib.Path,
                 trees: dict[pathlib.Path, ast.Module]
                 ) -> dict[tuple[str, str], set[str]]:
    index = {}
    for path, tree in trees.items():
        visitor = _ClassNames()
        visitor.visit(tree)
        for qualname, names in visitor.by_class.items():
            index[(_module_name(path, package), qualname)] = names
    return index


def _runtime_class(module: str, qualname: str) -> type | None:
    if "<locals>" in qualname:
        return None
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj if inspect.isclass(obj) else None


def _lineage_names(cls: type, index: dict) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        names |= index.get((klass.__module__, klass.__qualname__), set())
    return names


_SELF_ATTRIBUTE = re.compile(r"\bself\.(_[A-Za-z]\w*)")


def _foreign_names(cls: type, own: str) -> dict[str, str]:
    """Private names that `cls`'s bases from other packages define or
    assign, each with the base that does."""
    found: dict[str, str] = {}
    for klass in cls.__mro__[1:]:
        if klass.__module__.split(".")[0] == own or klass is object:
            continue
        where = f"{klass.__module__}.{klass.__qualname__}"
        for name in vars(klass):
            if _is_private(name):
                found.setdefault(name, where)
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for name in _SELF_ATTRIBUTE.findall(source):
            found.setdefault(name, where)
    return found


class _Scanner(ast.NodeVisitor):

    def __init__(self, path: pathlib.Path, package: pathlib.Path,
                 defined: set[str], index: dict,
                 allowed: dict[tuple[str, str], str]) -> None:
        self.path = path
        self.package = package
        self.own = package.name
        self.module = _module_name(path, package)
        self.key = str(path.relative_to(package))
        self.allowed = allowed
        self.defined = defined
        self.index = index
        self.classes: list[tuple[str, set[str] | None]] = []
        self.qual: list[str] = []
        self.problems: list[str] = []

    def report(self, node: ast.AST, text: str) -> None:
        where = self.path.relative_to(self.package.parent)
        self.problems.append(
            f"{where}:{getattr(node, 'lineno', '?')}: {text}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if _private_module_path(alias.name, self.own):
                self.report(node, f"imports private module {alias.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or module.split(".")[0] == self.own:
            return
        if _private_module_path(module, self.own):
            self.report(node, f"imports from private module {module}")
        for alias in node.names:
            if _is_private(alias.name) or alias.name in _PRIVATE_PATH_PARTS:
                self.report(node, f"imports private {module}.{alias.name}")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        qualname = ".".join(self.qual + [node.name])
        cls = _runtime_class(self.module, qualname)
        names = None if cls is None else _lineage_names(cls, self.index)
        if cls is not None:
            own = self.index.get((self.module, qualname), set())
            foreign = _foreign_names(cls, self.own)
            for name in sorted(own & foreign.keys()):
                if (self.key, name) not in self.allowed:
                    self.report(node, f"class {node.name} defines "
                                f"{name}, a private name of its base "
                                f"{foreign[name]}")
        self.classes.append((node.name, names))
        self.qual.append(node.name)
        self.generic_visit(node)
        self.qual.pop()
        self.classes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.qual.append(node.name + ".<locals>")
        self.generic_visit(node)
        self.qual.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr == "__internal__":
            self.report(node, "uses __internal__")
        elif _is_private(node.attr):
            self.check(node, node.value, node.attr)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if (isinstance(node.func, ast.Name)
                and node.func.id in _ATTR_FUNCTIONS and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
                and _is_private(node.args[1].value)):
            self.check(node, node.args[0], node.args[1].value)
        self.generic_visit(node)

    def check(self, node: ast.AST, owner: ast.AST, name: str) -> None:
        if (self.key, name) in self.allowed:
            return
        on_self = (isinstance(owner, ast.Name) and owner.id in _SELF_NAMES) \
            or (isinstance(owner, ast.Call)
                and isinstance(owner.func, ast.Name)
                and owner.func.id == "super")
        if on_self and self.classes and self.classes[-1][1] is not None:
            if name not in self.classes[-1][1]:
                self.report(node, f"uses {name}, which class "
                            f"{self.classes[-1][0]} does not define (a "
                            "private name of a base class from another "
                            "package)")
        elif name not in self.defined:
            self.report(node, f"uses {name}, a private name {self.own} "
                        "does not define")


def scan(package: pathlib.Path, skip: pathlib.Path | None = None,
         allowed: dict[tuple[str, str], str] | None = None) -> list[str]:
    """The private-name problems of every module of `package` (an
    importable package folder) outside `skip`."""
    trees = {path: tree for path, tree in _trees(package).items()
             if skip is None or skip not in path.parents}
    # The seam's own names (which are the foreign ones) do not count as
    # the package's.
    defined = _defined_anywhere(package, trees)
    index = _class_index(package, trees)
    problems = []
    for path, tree in trees.items():
        scanner = _Scanner(path, package, defined, index, allowed or {})
        scanner.visit(tree)
        problems += scanner.problems
    return problems


def test_no_private_names_of_other_packages_outside_compat():
    for (module, name), reason in ALLOWED.items():
        assert reason, f"ALLOWED[{module!r}, {name!r}] needs a reason."
        path = PACKAGE / module
        assert path.is_file() and name in path.read_text(), (
            f"ALLOWED[{module!r}, {name!r}]: {module} no longer uses "
            f"{name}; remove the entry.")
    problems = scan(PACKAGE, skip=COMPAT, allowed=ALLOWED)
    assert not problems, (
        "Private names of other packages used outside keras_mtl/_compat "
        "(route them through a function of keras_mtl._compat, or use a "
        "public API):\n" + "\n".join(problems))


PROBE = '''
import keras
import keras.src.ops
import tensorflow as tf
from keras_tuner.src import protos
from json import _default_decoder


class Backup(keras.callbacks.BackupAndRestore):
    def _save_model(self):
        self._current_epoch = 1
        self._own = self._last_batch_seen

    def public(self):
        return self._own


class Plain:
    def __init__(self):
        self._state = 0


def reads(model, tensor, plain):
    tf.__internal__.distribute.strategy_supports_no_merge_call()
    getattr(tensor, "_keras_history", None)
    return model._loss_tracker, plain._state
'''


def test_scan_finds_each_kind_of_private_use(tmp_path, monkeypatch):
    package = tmp_path / "probe_package"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "probe.py").write_text(PROBE)
    monkeypatch.syspath_prepend(str(tmp_path))
    problems = "\n".join(scan(package))
    expected = [
        ":3: imports private module keras.src.ops",
        ":5: imports from private module keras_tuner.src",
        ":6: imports private json._default_decoder",
        "defines _current_epoch, a private name of its base",
        "defines _save_model, a private name of its base",
        ":12: uses _last_batch_seen, which class Backup does not define",
        ":24: uses __internal__",
        ":25: uses _keras_history, a private name probe_package does not",
        ":26: uses _loss_tracker, a private name probe_package does not",
    ]
    for text in expected:
        assert text in problems, (text, problems)
    # keras_mtl's own names pass: `self._own`, `plain._state`.
    assert "_own" not in problems and "_state" not in problems
    assert len(problems.splitlines()) == len(expected)


def test_compat_lists_each_seam_in_its_docstring():
    """`keras_mtl/_compat/__init__.py` has a line per seam: every public
    function and class of a `_compat` module is named there as
    `module.name`, with its own docstring saying which versions it was
    checked against."""
    index = ast.get_docstring(ast.parse((COMPAT / "__init__.py").read_text()))
    missing = []
    for path in sorted(COMPAT.glob("*.py")):
        if path.name == "__init__.py":
            continue
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) or \
                    node.name.startswith("_"):
                continue
            doc = ast.get_docstring(node) or ""
            if f"{path.stem}.{node.name}" not in (index or ""):
                missing.append(f"{path.stem}.{node.name}: no line in the "
                               "keras_mtl._compat docstring")
            if "Checked against" not in doc and "public API only" not in doc:
                missing.append(f"{path.stem}.{node.name}: its docstring "
                               "does not say which versions it was "
                               "checked against")
    assert not missing, "\n".join(missing)
