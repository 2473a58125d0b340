"""Check a composed config against the schemas in ``kopt.schemas``."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from kopt.errors import KoptError
from kopt.schemas import check_ranges, registry

TRAIN_GROUPS = ("dataset", "split", "model", "regularizer", "augment", "optimizer", "trainer")


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
        key = f"{group}.{exc.full_key}" if getattr(exc, "full_key", None) else group
        msg = getattr(exc, "msg", None) or str(exc).splitlines()[0]
        msg = msg.replace("Value '", "value '").replace(" could not be converted to ", "; expected ")
        raise KoptError(f"{key}: {msg}") from None


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
    root = {k: cfg.get(k) for k in ("seed", "name")}
    obj = _typed("root", OmegaConf.create(root), registry()["root"]["train"])
    check_ranges(obj, "")
