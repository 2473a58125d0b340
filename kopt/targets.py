"""The one rule for a ``_target_`` (``model._target_``, a callback's): what it may name, and how it
is resolved. Every place that turns a ``_target_`` into code goes through :func:`resolve`.

Reading a run dir, a study dir or a study's storage never runs code, and a config can now name
code. So a ``_target_``, wherever it comes from (the command line, a YAML of yours, a run dir's
saved config on ``resume=``, a study's ``best.yaml`` or its stored plan in ``kopt worker``), may
name only:

* a module of yours: a ``.py`` file (or a package with ``__init__.py``) in the folder where kopt
  runs or in a ``--config-dir`` folder, not inside a kopt run or study dir, not one of Python's
  standard modules and not a module of the Python installation (site-packages);
* Keras' public building blocks: ``keras.layers.X``, ``keras.applications.X``, ``keras.callbacks.X``
  and ``keras.Sequential``, ``keras.Model`` (not ``keras.callbacks.RemoteMonitor``,
  ``LambdaCallback`` or ``keras.layers.Lambda``, nor anything that loads a file);
* an installed kopt plugin: a package that declares itself in the ``kopt.plugins`` entry-point group.

Anything else (``os.system``, ``subprocess.run``, ``builtins.eval``, ``importlib.import_module``,
``pickle.loads``, ``shutil.rmtree``, ``sys.exit``, ...) is one line, checked before anything is
imported. The object found must also be defined in the module the target starts with
(``mynets.os.system`` is refused: ``os.system`` is not defined in ``mynets``).

No TensorFlow here; a user's module is imported only by :func:`resolve`.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import sysconfig
from pathlib import Path
from typing import Any

from kopt.errors import KoptError

# --config-dir folders of this command, for the processes it starts (launchers, tune workers)
ROOTS_ENV = "KOPT_IMPORT_ROOTS"
KERAS_ALLOWED = ("keras.layers.", "keras.applications.", "keras.callbacks.")
KERAS_EXACT = ("keras.Sequential", "keras.Model", "keras.models.Sequential", "keras.models.Model")
# Keras objects that load files, call out to a server or take code: never from a config
KERAS_DENIED = ("keras.callbacks.RemoteMonitor", "keras.callbacks.LambdaCallback", "keras.layers.Lambda")
# never, whatever else holds (named in the refusal; the whole standard library is refused too)
DENIED = frozenset(
    [
        "os",
        "posix",
        "nt",
        "subprocess",
        "builtins",
        "importlib",
        "pickle",
        "shutil",
        "sys",
        "runpy",
        "ctypes",
        "socket",
        "code",
        "codeop",
        "pty",
        "multiprocessing",
        "marshal",
        "io",
        "pathlib",
        "tempfile",
        "webbrowser",
        "shelve",
        "dill",
        "cloudpickle",
        "joblib",
        "pydoc",
        "kopt",
        "hydra",
        "omegaconf",
        "setuptools",
        "pip",
    ]
)
ALLOWED_TEXT = (
    "allowed: a function or class of your own module (a .py file in the working folder or in --config-dir), "
    "keras.layers.X, keras.applications.X, keras.callbacks.X, or an installed kopt plugin"
)
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")
_KOPT_OUTPUT = (".hydra", "summary.json", "study.json", "best.yaml", "journal.log")


def _is_kopt_output(folder: Path) -> bool:
    return any((folder / name).exists() for name in _KOPT_OUTPUT)


def _inside_kopt_output(path: Path, root: Path) -> bool:
    """Whether ``path`` lies in a kopt run or study dir at or below ``root``."""
    return any(_is_kopt_output(p) for p in path.parents if _under(p, root))


def set_config_dirs(dirs: list[str | Path]) -> None:
    """Record the user's ``--config-dir`` folders (a folder that holds kopt output, such as a study
    dir read for its best.yaml, is not one: its files are not your modules)."""
    kept = [str(Path(d).resolve()) for d in dirs if d and not _is_kopt_output(Path(d).resolve())]
    if kept:
        os.environ[ROOTS_ENV] = os.pathsep.join(kept)
    else:
        os.environ.pop(ROOTS_ENV, None)


def import_roots() -> list[Path]:
    """Where your modules are: the working folder, then the ``--config-dir`` folders."""
    extra = [Path(p) for p in os.environ.get(ROOTS_ENV, "").split(os.pathsep) if p]
    roots: list[Path] = []
    for root in [Path.cwd(), *extra]:
        root = root.resolve()
        if root not in roots:
            roots.append(root)
    return roots


def _add_roots_to_path() -> None:
    """Make the roots importable, as ``python -m`` does for its folder; after Python's own paths, so
    a file of yours never shadows a standard or installed module."""
    for root in import_roots():
        if str(root) not in sys.path:
            sys.path.append(str(root))


def _installation_dirs() -> list[Path]:
    import site

    user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, user_site, *sysconfig.get_paths().values()}
    return [Path(p).resolve() for p in paths if p]


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _plugin_packages() -> set[str]:
    from kopt.plugins import entry_points

    return {ep.value.split(":")[0].split(".")[0] for ep in entry_points()}


def _own_module(top: str) -> Path | None:
    """Where the top-level module ``top`` of yours is (found, not imported), else None."""
    _add_roots_to_path()
    if top in sys.modules:
        origin = getattr(sys.modules[top], "__file__", None)
    else:
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return None
        origin = spec.origin if spec is not None and spec.has_location else None
    if not origin:  # a namespace package (a bare folder), a built-in module
        return None
    path = Path(origin).resolve()
    if any(_under(path, d) for d in _installation_dirs()):
        return None
    roots = [root for root in import_roots() if _under(path, root)]
    return path if roots and not _inside_kopt_output(path, roots[0]) else None


def check(target: Any, key: str, look: bool = True) -> str:
    """Refuse a ``_target_`` outside the allowed places (one line); nothing is imported. Returns the
    top-level module the object must be defined in ("" for Keras). ``look=False`` (a print-only
    command line, such as ``--cfg job``) skips looking for your module on disk; :func:`resolve`
    always looks."""
    text = str(target)
    if not isinstance(target, str) or not _DOTTED.fullmatch(text):
        raise KoptError(f"{key}={text}: not a dotted path such as mynets.build; {ALLOWED_TEXT}")
    top = text.split(".")[0]
    if top == "keras":
        public = text.startswith(KERAS_ALLOWED) and text.count(".") == 2 and "._" not in text
        if (public and text not in KERAS_DENIED) or text in KERAS_EXACT:
            return ""
        raise KoptError(f"{key}={text}: not allowed; {ALLOWED_TEXT}")
    if top in DENIED or top in sys.stdlib_module_names or top in sys.builtin_module_names:
        raise KoptError(f"{key}={text}: not allowed ({top} is not a module of yours); {ALLOWED_TEXT}")
    if look and _own_module(top) is None and top not in _plugin_packages():
        where = ", ".join(str(r) for r in import_roots())
        raise KoptError(f"{key}={text}: no module '{top}' of yours in {where}; {ALLOWED_TEXT}")
    return top


def _import_quietly(target: str) -> tuple[Any, Exception | None]:
    """(the object, None) or (None, why not). A user's module that imports Keras loads TensorFlow
    here, before kopt's own quiet import (kopt.runtime.import_tensorflow): its C++ start-up lines are
    held and dropped the same way, and so are the lines Hydra's get_object logs before it raises
    (the reason goes into kopt's one error line instead)."""
    import logging

    from hydra.utils import get_object

    from kopt.quiet import quiet_tensorflow, stderr_to_buffer

    quiet_tensorflow()
    hydra_log = logging.getLogger("hydra.utils")
    was_disabled, hydra_log.disabled = hydra_log.disabled, True
    try:
        with stderr_to_buffer():
            try:
                return get_object(target), None
            except Exception as exc:
                return None, exc
    finally:
        hydra_log.disabled = was_disabled


def resolve(target: Any, key: str, kwargs: dict | None = None) -> Any:
    """The callable ``target`` names, with Hydra's ``_target_`` semantics (``hydra.utils.get_object``),
    after :func:`check`. A target that does not import or is not callable is one line, and so is
    one that cannot be called with the keyword arguments ``kwargs`` (when given)."""
    top = check(target, key)
    obj, failure = _import_quietly(str(target))
    if failure is not None:  # ImportError, and whatever the module raised while importing
        reason = " ".join(str(failure).split()) or type(failure).__name__
        raise KoptError(f"{key}={target}: cannot import it ({reason[:300]})") from None
    if not callable(obj):
        raise KoptError(f"{key}={target}: is a {type(obj).__name__}, not a function or class")
    module = getattr(obj, "__module__", None) or ""
    if top and module.split(".")[0] != top:
        where = f"{module}.{getattr(obj, '__qualname__', '')}" if module else f"a {type(obj).__name__}"
        raise KoptError(f"{key}={target}: names {where}, not something defined in {top}; {ALLOWED_TEXT}")
    if kwargs is not None:
        _check_call(obj, target, key, kwargs)
    return obj


def _check_call(obj: Any, target: Any, key: str, kwargs: dict) -> None:
    import inspect

    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):  # a builtin or extension callable: nothing to check
        return
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        takes = ", ".join(p for p in signature.parameters if p not in ("self", "args", "kwargs"))
        raise KoptError(f"{key}={target}: {exc}; it takes: {takes}; kopt passes: {', '.join(kwargs)}") from None


def check_config(node: Any, where: str = "") -> None:
    """:func:`check` every ``_target_`` anywhere in a config read back (a study's stored plan in
    ``kopt worker``), before anything of it runs; nothing is imported."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}" if where else str(key)
            if key == "_target_":
                check(value, path)
            else:
                check_config(value, path)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            check_config(value, f"{where}[{i}]")
