"""Packages that add options: the ``kopt.plugins`` entry-point group.

A pip-installed package declares one module in its metadata::

    [project.entry-points."kopt.plugins"]
    mynets = "mynets_kopt"

kopt imports that module before its first registry look-up (:meth:`kopt.registry.Registry._load`),
so its decorators register what it adds (a model's ``@schema`` and ``@builder``, a dataset's
``@schema`` and ``@loader``), and puts the module's config folder on the search path (beside the
packaged ``configs/``), so that ``model=mynet`` is a choice like any other: an option is one
YAML file and one module, a plugin's as kopt's own. The config folder is the module's
``CONFIG_DIR``, else a ``configs/`` folder beside it.

Hydra's own search-path plugins are the precedent (``hydra_plugins``); kopt's Hydra app finds
the same folders through ``hydra_plugins/kopt_launcher/kopt_plugin_searchpath.py``.

A plugin module must import no TensorFlow at module level (the builder imports it), as kopt's own
option modules do: validation and ``--help`` import it. No TensorFlow here.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from kopt.errors import KoptError

GROUP = "kopt.plugins"
_loaded: dict[str, ModuleType] = {}
_state = {"done": False}


def _may_declare_plugins() -> bool:
    """Whether any distribution on ``sys.path`` might declare the group: False only when no
    ``entry_points.txt`` there names it and no import hook could add distributions of its own.
    Reading those small files costs about 2 ms; importing ``importlib.metadata`` and parsing every
    distribution's metadata costs about 30 ms of each kopt start, for the common case of no plugin."""
    import sys

    standard = {"BuiltinImporter", "FrozenImporter", "PathFinder"}
    for finder in sys.meta_path:  # e.g. a zip or a custom importer that serves metadata itself
        name = getattr(finder, "__name__", type(finder).__name__)
        if name not in standard and hasattr(finder, "find_distributions"):
            return True
    marker = f"[{GROUP}]"
    for entry in sys.path:
        folder = Path(entry or ".")
        if not folder.is_dir():
            if folder.is_file():
                return True  # an archive on the path (a zip, an egg): let importlib.metadata read it
            continue
        try:
            infos = [p for p in folder.iterdir() if p.suffix in (".dist-info", ".egg-info")]
        except OSError:
            continue
        for info in infos:
            try:
                if marker in (info / "entry_points.txt").read_text(errors="replace"):
                    return True
            except OSError:
                continue
    return False


def entry_points() -> list:
    if not _may_declare_plugins():
        return []
    from importlib.metadata import entry_points as found

    try:
        return sorted(found(group=GROUP), key=lambda ep: ep.name)
    except Exception:  # a broken distribution's metadata: no plugins from it
        return []


def load_all() -> dict[str, ModuleType]:
    """Import every installed plugin's module once; a plugin that fails to import is one line."""
    if _state["done"]:
        return _loaded
    _state["done"] = True
    for ep in entry_points():
        module_name = ep.value.split(":")[0].strip()
        try:
            _loaded[ep.name] = importlib.import_module(module_name)
        except Exception as exc:
            dist = getattr(getattr(ep, "dist", None), "name", None) or module_name
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            raise KoptError(
                f"kopt plugin {ep.name!r} ({module_name}, from the package {dist}) fails to import ({detail}); "
                f"fix it or pip uninstall {dist}"
            ) from None
    return _loaded


def config_dirs() -> list[Path]:
    """The config folders of the installed plugins, in the order of their names."""
    dirs = []
    for module in load_all().values():
        declared = getattr(module, "CONFIG_DIR", None)
        folder = Path(declared) if declared else Path(module.__file__ or "").parent / "configs"
        if folder.is_dir() and folder.resolve() not in dirs:
            dirs.append(folder.resolve())
    return dirs
