"""The one registry helper: the options of a config group, by name, with the facts that belong to them.

Every group keeps its options in a :class:`Registry` (schemas, dataset loaders, model builders,
augmentations, tuners, pruners). An option registers itself where it is defined, with a
decorator, and states its facts there (``@reg.register("iris", kind="tabular")``): no side
table elsewhere has to learn about it. A fact is a value, or a function of the option's typed
config when it depends on the config (a synthetic dataset's shape, a custom augmentation's layers).

``homes`` are modules imported (by name, once) before the first look-up, so that the options
defined there have registered themselves; a package home imports every module inside it. The
modules of installed plugins (:mod:`kopt.plugins`) are imported first.
No TensorFlow here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any

from kopt.errors import KoptError


class Registry:
    def __init__(self, group: str, homes: tuple[str, ...] = ()):
        self.group, self.homes = group, tuple(homes)
        self._entries: dict[str, Any] = {}
        self._facts: dict[str, dict[str, Any]] = {}
        self._loaded = not homes

    def register(self, *names: str, **facts: Any) -> Callable[[Any], Any]:
        """A decorator: register the decorated object as the options ``names``, with ``facts``."""

        def add(obj: Any) -> Any:
            for name in names:
                self._entries[name] = obj
                self._facts[name] = dict(facts)
            return obj

        return add

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        from kopt.plugins import load_all

        load_all()  # installed packages' options (the kopt.plugins entry points) register themselves
        for home in self.homes:
            module = importlib.import_module(home)
            for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
                importlib.import_module(f"{home}.{info.name}")

    def names(self) -> list[str]:
        """The registered options, in registration order."""
        self._load()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def items(self) -> list[tuple[str, Any]]:
        self._load()
        return list(self._entries.items())

    def get(self, name: str) -> Any:
        """The option ``name``; an unknown one costs one line naming the options there are."""
        self._load()
        if name not in self._entries:
            raise KoptError(f"{self.group}={name}: unknown; allowed: {', '.join(sorted(self._entries))}")
        return self._entries[name]

    def facts(self, name: str) -> dict[str, Any]:
        """The facts option ``name`` states, as registered (functions not called)."""
        self._load()
        return dict(self._facts.get(name, {}))

    def fact(self, name: str, key: str, default: Any = None, config: Any = None) -> Any:
        """The fact ``key`` of option ``name`` (``default`` when it states none); a fact that is a
        function is called with ``config``, the option's config (``default`` without one)."""
        self._load()
        value = self._facts.get(name, {}).get(key, default)
        if callable(value):
            return default if config is None else value(config)
        return value
