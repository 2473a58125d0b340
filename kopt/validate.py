"""Check a composed config against the schemas in ``kopt.schemas``."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from kopt.errors import KoptError
from kopt.schemas import check_ranges, registry

TRAIN_GROUPS = ("dataset", "split", "model", "regularizer", "augment", "optimizer", "trainer", "logger")


def _typed(group: str, node, cls):
    import dataclasses

    try:
        merged = OmegaConf.merge(OmegaConf.structured(cls), node)
        return OmegaConf.to_object(merged)
    except ConfigKeyError as exc:
        key = getattr(exc, "key", None) or str(exc).split("'")[1]
        allowed = ", ".join(f.name for f in dataclasses.fields(cls))
        raise KoptError(f"{group}.{key}: unknown key; allowed: {allowed}") from None
    except OmegaConfBaseException as exc:
        full_key = getattr(exc, "full_key", None)
        key = f"{group}.{full_key}" if full_key else group
        value = OmegaConf.select(node, str(full_key), default=None) if full_key else None
        expected = _expected_type(cls, str(full_key)) if full_key else None
        if expected:
            raise KoptError(f"{key}={value!r} has the wrong type; allowed: {expected}") from None
        msg = (getattr(exc, "msg", None) or str(exc)).splitlines()[0]
        raise KoptError(f"{key}: {msg}") from None


_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _expected_type(cls, dotted: str) -> str | None:
    """A readable name for the annotated type of a (nested) dataclass field."""
    import dataclasses
    import typing

    for part in dotted.split("."):
        fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
        if part not in fields:
            return None
        cls = fields[part].type  # schema modules do not use postponed annotations: a real type
    args = [a for a in typing.get_args(cls) if a is not type(None)]
    origin = typing.get_origin(cls)
    if origin is list:
        return f"a list of {_TYPE_NAMES.get(args[0], 'values')}" if args else "a list"
    if args and origin is typing.Union:
        cls = args[0]
        return f"{_TYPE_NAMES.get(cls, cls.__name__)} or null"
    return _TYPE_NAMES.get(cls, getattr(cls, "__name__", str(cls)))


def validate_group(cfg: DictConfig, group: str) -> object:
    schemas = registry().get(group, {})
    node = cfg.get(group)
    if node is None:
        raise KoptError(f"{group}: missing; choose one of: {', '.join(sorted(schemas))}")
    name = node.get("name")
    cls = schemas.get(name)
    if cls is None:
        raise KoptError(f"{group}.name={name!r} is not a known {group}; allowed: {', '.join(sorted(schemas))}")
    obj = _typed(group, node, cls)
    check_ranges(obj, group)
    return obj


def validate_train(cfg: DictConfig) -> None:
    for group in TRAIN_GROUPS:
        validate_group(cfg, group)
    from kopt.schemas.augment import check_augment_fits_dataset
    from kopt.schemas.model import check_model_fits_dataset

    check_augment_fits_dataset(cfg)
    check_model_fits_dataset(cfg)
    root = {k: cfg.get(k) for k in ("seed", "name")}
    obj = _typed("root", OmegaConf.create(root), registry()["root"]["train"])
    check_ranges(obj, "")
