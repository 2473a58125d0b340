"""From a composed ``tune`` config to a :class:`TunePlan`: everything a study needs, checked
before any trial runs, and serialisable into the study's system attributes so that a worker can
join from the storage alone (no config files).

A plan holds one *base* train config per combination of searched groups (``model=cnn`` ...),
composed with Hydra; a trial copies its base and sets its sampled values.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from kopt.errors import KoptError, install_hint
from kopt.tune.planning.record import ATTR, PLAN_FILE, SYSTEM_ATTR, VERSION, TunePlan, store_plan, stored_plan  # noqa: F401
from kopt.tune.planning.space import Fixed, Param, SearchSpace, active, combo_key, flatten, parse_search
from kopt.validate import validate_group, validate_train

TUNE_KEYS = ("tuner", "pruner", "search")


def train_part(cfg: DictConfig) -> dict:
    """The composed train config: the tune config without tuner/pruner/search, resolved."""
    data = OmegaConf.to_container(cfg, resolve=True)
    return {k: v for k, v in data.items() if k not in TUNE_KEYS and k != "hydra"}


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def compose_base(
    choices: dict[str, str], overrides: list[str], dirs: list[Path], config_name: str = "tune", machine: bool = True
) -> dict:
    """The train config with the searched groups set to ``choices``. The user's overrides of keys
    inside a searched group apply to the options that have those keys (``machine``: kopt.validate)."""
    from kopt.compose import compose_job

    def in_group(key: str, group: str) -> bool:
        return key == group or key.startswith(group + ".")

    kept = [o for o in overrides if not any(in_group(_override_key(o), g) for g in choices)]
    picks = [f"{g}={o}" for g, o in choices.items()]
    where = ", ".join(picks)
    try:
        cfg = compose_job(config_name, kept + picks, dirs)
        inner = []
        for o in overrides:
            key = _override_key(o)
            group = next((g for g in choices if in_group(key, g)), None)
            if group and key != group and OmegaConf.select(cfg, key, default=None, throw_on_missing=False) is not None:
                inner.append(o)
        if inner:
            cfg = compose_job(config_name, kept + picks + inner, dirs)
        validate_train(cfg, machine=machine)
    except KoptError as exc:
        raise KoptError(f"search with {where}: {exc}") from None
    return train_part(cfg)


def _open_key(target: str, base: dict) -> bool:
    """A key of your own that model=custom does not set yet (``search.model.width`` without
    ``model.width``): your builder's default is searched over, as if it were set."""
    parts = target.split(".")
    model = base.get("model")
    return len(parts) == 2 and parts[0] == "model" and isinstance(model, dict) and model.get("name") == "custom"


def _check_target(param: Param | Fixed, base: dict, where: str) -> None:
    parts = param.target.split(".")
    if _open_key(param.target, base) and parts[1] not in base["model"]:
        return
    node: Any = base
    for i, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            parent = ".".join(parts[:i]) or "the config"
            allowed = ", ".join(map(str, node)) if isinstance(node, dict) else "(not a section)"
            raise KoptError(f"search.{param.name}: unknown key '{part}' in {parent}{where}; allowed: {allowed}")
        node = node[part]
    if isinstance(node, dict):
        raise KoptError(f"search.{param.name}: {param.target} is a section, not a value; search its keys")


def _probe(
    param: Param | Fixed, value: Any, cfg, base: dict, where: str, cache: dict | None = None, machine: bool = True
) -> None:
    """Validate ``cfg`` (the config of ``base``) with ``value`` at the param's key, then put back the
    value of ``base`` there (as written: an interpolation stays one). One config per base serves
    every probe: creating a whole OmegaConf config per probe was most of ``kopt tune``'s start-up."""
    raw: Any = base
    absent = _open_key(param.target, base) and param.target.split(".")[1] not in base["model"]
    for part in [] if absent else param.target.split("."):
        raw = raw[part]
    OmegaConf.update(cfg, param.target, value, merge=False)
    try:
        validate_train(cfg, cache, machine)
    except KoptError as exc:
        expr = param.dist.expr if isinstance(param, Param) else repr(param.value)
        hint = ""
        if "integer" in str(exc).lower() and isinstance(param, Param) and param.dist.kind == "float":
            hint = f"; write int({expr}) for an integer key"
        raise KoptError(f"search.{param.name}={expr}{where}: {exc}{hint}") from None
    finally:
        if absent:
            del cfg.model[param.target.split(".")[1]]
        else:
            OmegaConf.update(cfg, param.target, copy.deepcopy(raw), merge=False)


def check_space(space: SearchSpace, bases: dict[str, dict], machine: bool = True) -> None:
    """Every key names an existing config value, and every bound/choice passes the schemas
    (``machine``: the facts of this machine too, kopt.validate)."""
    combos = {key: dict(p.split("=") for p in key.split(",")) if key else {} for key in bases}
    cache: dict = {}  # the groups a probe leaves unchanged are checked once
    cfgs = {key: OmegaConf.create(copy.deepcopy(base)) for key, base in bases.items()}
    for item in [*space.fixed, *space.params]:
        if isinstance(item, Param) and item.group_choice:
            continue
        for key, base in bases.items():
            if not active(item.when, combos[key]):
                continue
            where = f" (with {key})" if key else ""
            _check_target(item, base, where)
            values = item.dist.probes() if isinstance(item, Param) else [item.value]
            for value in values:
                _probe(item, value, cfgs[key], base, where, cache, machine)


def require_module(module: str, message: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise KoptError(message)


def check_tuner_extras(tuner_name: str) -> None:
    if tuner_name == "gp":
        require_module(
            "torch", f"tuner=gp needs PyTorch (Optuna's GPSampler runs on it): {install_hint('gp')}, or use tuner=bayes"
        )
    if tuner_name == "cmaes":
        require_module("cmaes", "tuner=cmaes needs the cmaes package: pip install cmaes")


DATA_KEYS = ("seed", "split", "dataset")  # they choose which examples form the test and validation sets


def check_data_fixed(search_node: dict) -> None:
    """Trials are compared on their validation scores, and the retrain on the test set: every trial
    must see the same examples there, so seed, split.* and dataset.* cannot be searched."""
    keys = list(flatten(search_node))
    if "trainer.backend" in keys:  # kopt.backend: Keras keeps the backend it first loaded with
        raise KoptError(
            "search.trainer.backend: a study's trials share processes, and Keras cannot change "
            "backends once loaded; allowed: set trainer.backend outside search, once for every trial"
        )
    moving = [k for k in keys if k.split(".")[0] in DATA_KEYS]
    if moving:
        raise KoptError(
            f"search.{moving[0]}: seed, split.* and dataset.* choose which examples form the test "
            "and validation sets, so trials would be scored on different data; allowed: set them "
            "outside search (e.g. seed=1 split.k=5), once for every trial"
        )


def build_plan(
    cfg: DictConfig,
    overrides: list[str],
    dirs: list[Path],
    config_name: str = "tune",
    machine: bool = True,
    task: str | None = None,
) -> TunePlan:
    """Check a composed tune config and everything its search space can produce. ``machine``: the
    facts of this machine too (data files, cores, your modules; kopt.validate), False for a plan
    that is only shown (``kopt tune --cfg job``). ``task``: dataset.task as the labels tell it
    (kopt.data.datasets.check_files_content), which ``tuner.metric=auto`` resolves with; None: as
    the config tells it."""
    tuner = validate_group(cfg, "tuner", machine)
    validate_group(cfg, "pruner", machine)
    check_tuner_extras(tuner.name)
    node = cfg.get("search")
    search_node = OmegaConf.to_container(node, resolve=True) if node is not None else {}
    if not isinstance(search_node, dict):
        raise KoptError("search: must be a mapping of config paths to sweep expressions")
    check_data_fixed(search_node)
    space = parse_search(search_node)
    if not space.params:
        from kopt.schemas.model import search_presets

        presets = ", ".join(f"search={p} (model={m})" for m, p in search_presets().items())
        raise KoptError(
            f"search is empty for model={cfg.model.get('name')}; add parameters, e.g. "
            f"'search.optimizer.lr=tag(log, interval(1e-4, 1e-1))', or a preset: {presets}"
        )
    from kopt.compose import group_options

    known = group_options(dirs)
    for group, options in space.groups.items():
        unknown = [o for o in options if o not in known.get(group, set())]
        if unknown:
            raise KoptError(
                f"search.{group}: unknown option '{unknown[0]}' for group '{group}'; "
                f"allowed: {', '.join(sorted(known.get(group, ())))}"
            )
    combos = space.combos()
    if len(combos) > 64:
        raise KoptError(f"search: {len(combos)} combinations of searched groups; allowed: at most 64")
    bases = {
        combo_key(c): (compose_base(c, overrides, dirs, config_name, machine) if c else train_part(cfg)) for c in combos
    }
    check_space(space, bases, machine)
    from kopt.schemas.metrics import check_logged, config_task, resolve_monitor

    # tuner.metric=auto: val_accuracy where the trials log accuracy, else val_loss (a regression)
    metric = resolve_monitor(tuner.metric, cfg.trainer.get("metrics"), task or config_task(cfg.dataset))
    for base in bases.values():  # tuner.metric is one the trials log (trainer.metrics, dataset.task)
        check_logged(base, metric, "tuner.metric")
    from kopt.tune.planning.auto import resolve  # tuner=auto, pruner=auto: the chosen options replace them

    tuner_node, pruner_node = resolve(
        OmegaConf.to_container(cfg.tuner, resolve=True), OmegaConf.to_container(cfg.pruner, resolve=True), space, bases
    )
    n_trials, grid_size = tuner_node["n_trials"], None
    if tuner_node["name"] == "grid":
        grid_size = 1
        for values in space.grid().values():
            grid_size *= len(values)
        if grid_size > 1_000_000:
            raise KoptError(f"tuner=grid: the grid has {grid_size:,} points; allowed: at most 1,000,000")
        n_trials = min(n_trials or grid_size, grid_size)
    from kopt.tune.planning.objectives import shape_plan  # several objectives, enqueue, warm start

    return shape_plan(
        TunePlan(
            study_name=str(tuner.study_name),
            tuner=tuner_node,
            pruner=pruner_node,
            search=flatten(search_node),
            bases=bases,
            seed=int(cfg.seed),
            metric=metric,
            direction=tuner.resolved_direction(metric),
            n_trials=int(n_trials),
            grid_size=grid_size,
            space=space,
        )
    )
