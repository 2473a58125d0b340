"""Check a composed config against the schemas in ``kopt.schemas``."""

from __future__ import annotations

import copy
import functools

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, InterpolationResolutionError, OmegaConfBaseException

from kopt.errors import KoptError
from kopt.schemas import check_ranges, group_schemas

TRAIN_GROUPS = ("dataset", "split", "model", "regularizer", "augment", "optimizer", "trainer", "logger")


def _typed(group: str, node, cls):
    import dataclasses

    _check_bools(group, node, cls)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(cls), node)
        if OmegaConf.missing_keys(merged):  # a config saved before a key existed: the packaged YAML's value
            merged = OmegaConf.merge(OmegaConf.structured(cls), packaged_option(group, str(node.get("name"))), node)
        missing = sorted(OmegaConf.missing_keys(merged))
        if missing:  # defaults live in the YAML files only
            raise KoptError(
                f"{group}.{missing[0]}: missing; every key of {group}={node.get('name')} needs a value in "
                f"its YAML file (a file of your own can start with 'defaults: [<option>, _self_]')"
            )
        return OmegaConf.to_object(merged)
    except ConfigKeyError as exc:
        key = getattr(exc, "key", None) or str(exc).split("'")[1]
        allowed = ", ".join(f.name for f in dataclasses.fields(cls))
        raise KoptError(f"{group}.{key}: unknown key; allowed: {allowed}") from None
    except OmegaConfBaseException as exc:
        full_key = getattr(exc, "full_key", None)
        key = f"{group}.{full_key}" if full_key else group
        value = (
            OmegaConf.select(node, str(full_key), default=None, throw_on_resolution_failure=False) if full_key else None
        )
        expected = _expected_type(cls, str(full_key)) if full_key else None
        if expected and not isinstance(exc, InterpolationResolutionError):
            raise KoptError(f"{key}={value!r} has the wrong type; allowed: {expected}") from None
        msg = (getattr(exc, "msg", None) or str(exc)).splitlines()[0]
        raise KoptError(f"{key}: {msg}") from None


@functools.cache
def _packaged(group: str, option: str) -> DictConfig:
    from kopt.paths import config_dir

    path = config_dir() / group / f"{option}.yaml"
    node = OmegaConf.load(path) if path.is_file() else OmegaConf.create()
    base = OmegaConf.load(config_dir() / "tune.yaml").tuner if group == "tuner" else OmegaConf.create()
    for parent in node.pop("defaults", []):
        if parent != "_self_":
            base = OmegaConf.merge(base, _packaged(group, parent))
    return OmegaConf.merge(base, node)


def packaged_option(group: str, option: str) -> DictConfig:
    """Option ``option`` of ``group`` as kopt ships it in configs/ (its defaults list applied; a tuner
    on top of the keys every tuner shares), where every default value is written."""
    return copy.deepcopy(_packaged(group, option))


def _check_bools(prefix: str, node, cls) -> None:
    """OmegaConf turns any number into a bool (``stratify=2`` -> True): only true/false are allowed."""
    import dataclasses

    raw = OmegaConf.to_container(node, resolve=False) if isinstance(node, DictConfig) else node
    if not isinstance(raw, dict):
        return
    for f in dataclasses.fields(cls):
        value = raw.get(f.name)
        if dataclasses.is_dataclass(f.type):
            _check_bools(f"{prefix}.{f.name}", value, f.type)
        elif f.type is bool and isinstance(value, (int, float)) and not isinstance(value, bool):
            raise KoptError(f"{prefix}.{f.name}={value!r} has the wrong type; allowed: true or false")


_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _expected_type(cls, dotted: str) -> str | None:
    """A readable name for the annotated type of a (nested) dataclass field."""
    import dataclasses
    import typing

    for part in dotted.split("."):
        if not dataclasses.is_dataclass(cls) or part not in {f.name for f in dataclasses.fields(cls)}:
            return None
        try:  # a module with postponed annotations (an option's module may have them) keeps them as text
            cls = typing.get_type_hints(cls)[part]
        except Exception:  # a name the module cannot resolve: no readable type, the plain message
            return None
    args = [a for a in typing.get_args(cls) if a is not type(None)]
    origin = typing.get_origin(cls)
    if origin is list:
        return f"a list of {_TYPE_NAMES.get(args[0], 'values')}" if args else "a list"
    if args and origin is typing.Union:
        cls = args[0]
        return f"{_TYPE_NAMES.get(cls, cls.__name__)} or null"
    return _TYPE_NAMES.get(cls, getattr(cls, "__name__", str(cls)))


def validate_group(cfg: DictConfig, group: str, machine: bool = True) -> object:
    """The typed config of ``group``, its ranges and rules checked, and (``machine``) the facts of
    this machine it needs (kopt.schemas: a schema's ``check_machine``)."""
    schemas = group_schemas(group)
    node = cfg.get(group)
    if node is None:
        raise KoptError(f"{group}: missing; choose one of: {', '.join(sorted(schemas))}")
    name = node.get("name")
    cls = schemas.get(name)
    if cls is None:
        raise KoptError(f"{group}.name={name!r} is not a known {group}; allowed: {', '.join(sorted(schemas))}")
    node, extra = _split_open(group, node, cls)
    obj = _typed(group, node, cls)
    if getattr(cls, "OPEN", False):
        obj.params = extra  # the keys of your own (model=custom): passed to your builder as they are
    check_ranges(obj, group, machine)
    return obj


def _split_open(group: str, node, cls):
    """An open schema (model=custom) takes keys of your own: (the node's schema keys, the others
    resolved into plain values). Any other schema: (the node, {})."""
    import dataclasses

    if not getattr(cls, "OPEN", False) or not isinstance(node, (DictConfig, dict)):
        return node, {}
    known = {f.name for f in dataclasses.fields(cls)}
    try:
        full = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    except OmegaConfBaseException as exc:
        raise KoptError(f"{group}: {(getattr(exc, 'msg', None) or str(exc)).splitlines()[0]}") from None
    return OmegaConf.create({k: v for k, v in full.items() if k in known}), {
        str(k): v for k, v in full.items() if k not in known
    }


def _validated(cfg: DictConfig, group: str, cache: dict | None, machine: bool) -> object:
    if cache is None:
        return validate_group(cfg, group, machine)
    node = cfg.get(group)
    key = (group, machine, repr(OmegaConf.to_container(node, resolve=True)) if node is not None else None)
    if key not in cache:
        cache[key] = validate_group(cfg, group, machine)
    return cache[key]


def typed_option(group: str, node, check: bool = True) -> object:
    """The typed, validated config of one group's node (a typed config passes through): what the
    builders receive, so they neither re-cast nor re-check a field. ``check=False`` types the node
    without checking its ranges (values checked already, when a study's plan was made)."""
    import dataclasses

    if dataclasses.is_dataclass(node):
        return node
    if not check:
        schemas = group_schemas(group)
        cls = schemas.get(node.get("name"))
        if cls is None:
            raise KoptError(
                f"{group}.name={node.get('name')!r} is not a known {group}; allowed: {', '.join(sorted(schemas))}"
            )
        return _typed(group, OmegaConf.create(node), cls)
    return validate_group({group: node}, group)


def check_top_level_keys(cfg: DictConfig, root_schema) -> None:
    """Keys added with ``+key=value`` are not in any schema: refuse them like any unknown key."""
    import dataclasses

    from kopt.paths import config_groups

    allowed = [
        *TRAIN_GROUPS,
        *(g for g in config_groups() if g not in TRAIN_GROUPS),
        *(f.name for f in dataclasses.fields(root_schema)),
    ]
    for key in cfg.keys():
        if key not in allowed:
            raise KoptError(f"{key}: unknown key; allowed at the top level: {', '.join(allowed)}")


def validate_train(cfg: DictConfig, cache: dict | None = None, machine: bool = True) -> None:
    """Every train group against its schema, then the checks across groups. ``cache`` (a dict the
    caller keeps) skips the schema check of a group node already checked: kopt tune probes each
    searched value in a copy of one config, where all groups but one are unchanged. ``machine``:
    the facts of this machine a run needs too (data files, memory, model.init's run dir, your
    modules imported); False for a config that is only printed, which must not look at files or
    import anything of yours."""
    typed = {group: _validated(cfg, group, cache, machine) for group in TRAIN_GROUPS}
    from kopt.schemas.augment import check_augment_fits_dataset
    from kopt.schemas.model import check_model_fits_dataset, check_model_fits_memory

    check_augment_fits_dataset(cfg)
    check_model_fits_dataset(cfg)
    if machine:
        check_model_fits_memory(typed["model"])
    from kopt.schemas.trainer import check_tta_fits_dataset

    check_tta_fits_dataset(cfg)
    from kopt.schemas.metrics import check_fits_dataset

    check_fits_dataset(cfg)
    from kopt.schemas.split import check_split_fits_dataset

    check_split_fits_dataset(cfg)
    warmup, epochs = cfg.optimizer.schedule.warmup_epochs, cfg.trainer.epochs
    if warmup > epochs:
        raise KoptError(
            f"optimizer.schedule.warmup_epochs={warmup} with trainer.epochs={epochs}: "
            "allowed: warmup_epochs <= trainer.epochs"
        )
    check_top_level_keys(cfg, group_schemas("root")["train"])
    root = {k: cfg.get(k) for k in ("seed", "name", "resume")}
    obj = _typed("root", OmegaConf.create(root), group_schemas("root")["train"])
    check_ranges(obj, "", machine)
    from kopt.schemas.model import check_model_against_config, check_model_init

    if machine:
        check_model_init(cfg, typed["model"])  # model.init: a finished run of the same architecture and data
    check_model_against_config(cfg, typed["model"], machine)  # last: model=custom imports your module (Keras too)
    from kopt.schemas.trainer import import_callbacks

    if machine:
        import_callbacks(typed["trainer"])
        if typed["trainer"].loss is not None:  # trainer.loss of yours: imported, its keys checked
            from kopt.schemas.trainer import import_loss

            import_loss(typed["trainer"].loss)
