"""Structured-config schemas: one dataclass per config option, checked before TensorFlow loads.

Each group module registers its options with :func:`schema`, with the facts that belong to
them (``kind="tabular"``, ``needs="image"``; see :mod:`kopt.registry`). A field may carry range
metadata (``ge``, ``gt``, ``le``, ``lt``, ``choices``) through :func:`param`. Types are
checked by OmegaConf (merging the node into ``OmegaConf.structured(cls)``), ranges here.

A schema holds types and ranges only: every default value is written once, in the option's
YAML under ``configs/`` (docs/architecture.md, "Options: one source each").

Two hooks check a typed config beyond its ranges: ``check(prefix)``, the rules between its values
(the same on every machine), and ``check_machine(prefix)``, the facts of this machine a run needs
(data files exist, a keras.datasets file is cached, a module of yours is on the import path, the
cores). Validation runs the second only when told to (``machine=True``, the default): a config that
is only printed (``--cfg job``) or listed (``kopt models``) is checked with ``machine=False``, so it
shows whatever the machine holds and imports nothing of yours.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable
from typing import Any

from kopt.errors import KoptError
from kopt.registry import Registry

GROUP_MODULES = (
    "dataset",
    "split",
    "model",
    "regularizer",
    "augment",
    "optimizer",
    "trainer",
    "root",
    "logger",
    "tuner",
    "pruner",
)
# Option modules outside this package that define a schema of their own: one module per dataset,
# model, augmentation, tuner and pruner, holding its schema and its loader or builder.
PLUGIN_HOMES = {
    "dataset": ("kopt.data.sources",),
    "model": ("kopt.models.zoo",),
    "augment": ("kopt.data.augments",),
    "tuner": ("kopt.tune.planning.tuners",),
    "pruner": ("kopt.tune.planning.pruners",),
}
SCHEMAS: dict[str, Registry] = {
    group: Registry(group, (f"kopt.schemas.{group}", *PLUGIN_HOMES.get(group, ()))) for group in GROUP_MODULES
}


def schema(group: str, *names: str, **facts: Any) -> Callable[[type], type]:
    """Register a dataclass as the schema of ``group`` options ``names``, with their ``facts``."""
    return SCHEMAS[group].register(*names, **facts)


def param(**bounds: Any):
    """A dataclass field with range metadata and no default, e.g. ``param(ge=0, lt=1)``."""
    return dataclasses.field(metadata=bounds)


def fact(group: str, name: str, key: str, default: Any = None, config: Any = None) -> Any:
    """A fact the option ``name`` of ``group`` states at its registration (see kopt.registry)."""
    return SCHEMAS[group].fact(name, key, default, config)


def registry() -> dict[str, dict[str, type]]:
    for mod in GROUP_MODULES:
        importlib.import_module(f"kopt.schemas.{mod}")
    return {group: dict(reg.items()) for group, reg in SCHEMAS.items()}


def group_schemas(group: str) -> dict[str, type]:
    """``registry()[group]`` without the other groups: validation asks for one group ~15 times a
    command, and copying every group's options each time cost ~0.02 CPU s of each `kopt` start."""
    if group not in SCHEMAS:
        return {}
    importlib.import_module(f"kopt.schemas.{group}")
    return dict(SCHEMAS[group].items())


def allowed(meta: dict) -> str:
    parts = []
    if "choices" in meta:
        return "one of " + ", ".join(map(str, meta["choices"]))
    if "ge" in meta:
        parts.append(f">= {meta['ge']}")
    if "gt" in meta:
        parts.append(f"> {meta['gt']}")
    if "le" in meta:
        parts.append(f"<= {meta['le']}")
    if "lt" in meta:
        parts.append(f"< {meta['lt']}")
    return " and ".join(parts)


def _in_range(value: Any, meta: dict) -> bool:
    if value is None:
        return True
    if "choices" in meta:
        return value in meta["choices"]
    checks = {
        "ge": lambda v, b: v >= b,
        "gt": lambda v, b: v > b,
        "le": lambda v, b: v <= b,
        "lt": lambda v, b: v < b,
    }
    values = value if isinstance(value, (list, tuple)) else [value]
    for key, check in checks.items():
        if key in meta and not all(check(v, meta[key]) for v in values):
            return False
    return True


def check_ranges(obj: Any, prefix: str, machine: bool = True) -> None:
    """Walk a dataclass instance and raise KoptError on the first out-of-range field, then run its
    ``check`` and (``machine``: the facts of this machine too) its ``check_machine``."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}.{f.name}" if prefix else f.name
        if dataclasses.is_dataclass(value):
            check_ranges(value, key, machine)
            continue
        infinite = isinstance(value, float) and not math.isfinite(value)  # nan fails every bound, inf too
        if f.metadata and (infinite or not _in_range(value, f.metadata)):
            finite = "a finite number " if infinite else ""
            raise KoptError(f"{key}={value!r} is out of range; allowed: {finite}{allowed(f.metadata)}")
    post = getattr(obj, "check", None)
    if post is not None:
        post(prefix)
    facts = getattr(obj, "check_machine", None) if machine else None
    if facts is not None:
        facts(prefix)
