"""Compose and validate a config before anything runs (no TensorFlow on this path).

``kopt train`` is a Hydra app, but Hydra's own errors are multi-line and its struct
checks know nothing of ranges. So every job of a command line (a multirun expands to
several) is composed and validated here first. A bad override then costs one clear line
and nothing is written to ``runs/``.
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from kopt.errors import KoptError
from kopt.paths import check_safe_name, config_dir

# Hydra flags that take a value, and those that make the app print instead of run.
VALUE_FLAGS = {
    "--cfg",
    "-c",
    "--package",
    "-p",
    "--config-dir",
    "-cd",
    "--config-name",
    "-cn",
    "--config-path",
    "-cp",
    "--info",
    "-i",
    "--shell-completion",
    "-sc",
    "--experimental-rerun",
}
PRINT_ONLY = {"--help", "-h", "--hydra-help", "--version", "--info", "-i", "--shell-completion", "-sc"}
OPTIONAL_VALUE = {"--info", "-i", "--shell-completion", "-sc"}


NOT_COMPOSED = object()  # CommandLine.hydra_mode before any job is composed


@dataclass
class CommandLine:
    overrides: list[str] = field(default_factory=list)
    flags: dict[str, str | None] = field(default_factory=dict)
    # where the jobs will write: the run dir (or the sweep dir with -m), resolved, and as configured
    output_dir: Path | None = None
    output_pattern: str | None = None
    # the first job's hydra.mode (RUN, MULTIRUN or None: by -m), once composed: Hydra need not compose
    # the config once more to read it (kopt.hydra_app)
    hydra_mode: object = NOT_COMPOSED
    # a single run's one job as composed here, its ``hydra`` node included, with the config name and
    # overrides it was composed from: Hydra need not compose it again before the run (kopt.hydra_app)
    composed: tuple[str, list[str], DictConfig] | None = None

    @property
    def multirun(self) -> bool:
        return "-m" in self.flags or "--multirun" in self.flags

    @property
    def print_only(self) -> bool:
        return any(f in PRINT_ONLY for f in self.flags) or "--cfg" in self.flags or "-c" in self.flags

    @property
    def user_config_dir(self) -> str | None:
        return self.flags.get("--config-dir") or self.flags.get("-cd")

    @property
    def config_name(self) -> str | None:
        return self.flags.get("--config-name") or self.flags.get("-cn")


def split_argv(argv: list[str]) -> CommandLine:
    line = CommandLine()
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if arg.startswith("-") and name in VALUE_FLAGS:
            if eq:
                line.flags[name] = value
            elif name in OPTIONAL_VALUE and (i + 1 >= len(argv) or "=" in argv[i + 1] or argv[i + 1].startswith("-")):
                line.flags[name] = None
            else:
                if i + 1 >= len(argv):
                    raise KoptError(f"{arg} needs a value")
                line.flags[name] = argv[i + 1]
                i += 1
        elif arg.startswith("-") and "=" not in arg:
            line.flags[arg] = None
        else:
            line.overrides.append(arg)
        i += 1
    return line


def print_job_config(line: CommandLine, cfg: DictConfig | None) -> bool:
    """``--cfg job``: print the job's config kopt has just composed and validated, exactly as Hydra
    prints it (``OmegaConf.to_yaml`` of the job without its ``hydra`` node), rather than let Hydra
    compose the same job a second time: that composition was about a third of ``kopt train --cfg
    job``. ``--cfg hydra|all``, ``--package`` and ``--resolve`` still go through Hydra (they need
    the app's own hydra node). Returns whether it printed."""
    flags = {k: v for k, v in line.flags.items() if k not in ("--config-dir", "-cd", "--config-name", "-cn")}
    if cfg is None or list(flags.items()) not in ([("--cfg", "job")], [("-c", "job")]):
        return False
    sys.stdout.write(OmegaConf.to_yaml(cfg))
    sys.stdout.flush()
    return True


def search_dirs(user_dir: str | None) -> list[Path]:
    """Where configs are looked up, first to last: --config-dir, the installed plugins' config
    folders (kopt.plugins), kopt's own configs/."""
    from kopt.plugins import config_dirs

    dirs = [*config_dirs(), config_dir()]
    if user_dir:
        path = Path(user_dir).expanduser()
        if not path.is_dir():
            raise KoptError(f"--config-dir {user_dir}: no such folder")
        dirs.insert(0, path.resolve())
    return dirs


def group_options(dirs: list[Path]) -> dict[str, set[str]]:
    """Config groups (nested ones too, e.g. hydra/launcher) and their options."""
    groups: dict[str, set[str]] = {}
    for root in dirs:
        for yaml in root.rglob("*.yaml"):
            rel = yaml.relative_to(root)
            if len(rel.parts) < 2:
                continue
            groups.setdefault("/".join(rel.parts[:-1]), set()).add(yaml.stem)
    hydra_groups = [group for group in groups if group.startswith("hydra/")]
    if hydra_groups:  # kopt presets add to Hydra's own and its plugins' (e.g. hydra/launcher=joblib)
        repository = _hydra_repository(dirs)
        for group in hydra_groups:
            groups[group] |= set(repository.get_group_options(group))
    return groups


def _hydra_repository(dirs: list[Path]):
    """Hydra's config repository on kopt's search path. Asked directly, not through a
    ConfigLoaderImpl, whose every question deep-copies the repository (Hydra's structured configs
    included: most of the cost of listing a group)."""
    from hydra._internal.config_repository import ConfigRepository
    from hydra._internal.utils import create_config_search_path

    search_path = create_config_search_path(f"file://{dirs[-1]}")
    for extra in dirs[:-1]:
        search_path.append("kopt-user", f"file://{extra}")
    return ConfigRepository(config_search_path=search_path)


def hydra_group_options(group: str, dirs: list[Path]) -> set[str]:
    return set(_hydra_repository(dirs).get_group_options(group))


def parse_overrides(overrides: list[str]):
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        return OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as exc:
        raise KoptError(f"cannot parse override: {str(exc).splitlines()[0]}") from None


def _choice_values(override) -> list[Any]:
    if override.is_sweep_override():
        return list(override.sweep_string_iterator())
    return [override.value()]


def check_group_choices(parsed, groups: dict[str, set[str]]) -> None:
    for ov in parsed:
        group = ov.key_or_group.lstrip("+~")
        if group not in groups or ov.is_delete():
            continue
        for value in _choice_values(ov):
            if value is None or str(value) == "null":
                continue
            if str(value) not in groups[group]:
                allowed = ", ".join(sorted(groups[group]))
                raise KoptError(f"{group}={value}: unknown option for group '{group}'; allowed: {allowed}")


def expand_jobs(parsed, multirun: bool) -> list[list[str]]:
    """One override list per job: the cartesian product of sweeps, as Hydra's basic sweeper does."""
    if not multirun:
        if any(ov.is_sweep_override() for ov in parsed):
            sweep = next(ov.input_line for ov in parsed if ov.is_sweep_override())
            raise KoptError(f"'{sweep}' is a sweep; add -m (--multirun) to run one job per value")
        return [[ov.input_line for ov in parsed]]
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    batches = BasicSweeper.split_arguments(parsed, None)
    return [job for batch in batches for job in batch]


def _unknown_key_message(exc: Exception, base_config: Callable[[], DictConfig | None]) -> str | None:
    """The line for an override of a key the config lacks, naming the keys allowed where it points;
    None for any other error. ``base_config`` composes that config, only when it is needed."""
    text = str(exc)
    match = re.search(r"Could not override '([^']+)'", text) or re.search(
        r"Could not append to config\. An item is already at '([^']+)'", text
    )
    if not match:
        return None
    key = match.group(1)
    base = base_config()
    if "No match in the defaults list" in text:
        if base is not None and "." not in key:
            keys = ", ".join(str(k) for k in base.keys())
            return f"{key}: unknown key or group; allowed at the top level: {keys}"
        return f"{key}: unknown key or group"
    parent, _, child = key.rpartition(".")
    node = OmegaConf.select(base, parent) if (base is not None and parent) else base
    if isinstance(node, DictConfig):
        allowed = ", ".join(str(k) for k in node.keys())
        where = f"under '{parent}'" if parent else "at the top level"
        return f"{key}: unknown key; allowed {where}: {allowed}"
    return f"{key}: unknown key"


def runs_root() -> Path:
    return (Path.cwd() / "runs").resolve()


def resolve_dir(key: str, value: str, resolved: str | None = None) -> Path:
    """``value`` (a run or sweep dir, as configured; ``resolved``: its interpolated value) as an
    absolute path: any folder the user can write, relative to the working folder or absolute."""
    if "\x00" in str(value) or (resolved is not None and "\x00" in str(resolved)):
        raise KoptError(f"{key}: a NUL character is not allowed in a path")
    path = Path(resolved if resolved is not None else value).expanduser()
    return (path if path.is_absolute() else Path.cwd() / path).resolve()


def _relative_subpath(key: str, value) -> None:
    if value is not None and (Path(str(value)).is_absolute() or ".." in Path(str(value)).parts):
        raise KoptError(f"{key}={value}: must be a relative path without '..'")


def check_output_paths(cfg: DictConfig, multirun: bool) -> tuple[Path, str]:
    """Refuse sweep sub-dirs and job names that are not plain names; return the resolved output
    dir of this command (sweep dir with -m; any writable folder) and its configured pattern.
    ``cfg`` is a job's whole config, ``hydra`` node included."""
    raw = OmegaConf.to_container(cfg.hydra, resolve=False)
    run_raw, sweep_raw = raw["run"]["dir"], raw["sweep"]["dir"]
    try:
        run_dir, sweep_dir = OmegaConf.select(cfg, "hydra.run.dir"), OmegaConf.select(cfg, "hydra.sweep.dir")
    except OmegaConfBaseException as exc:
        raise KoptError(f"hydra.run.dir / hydra.sweep.dir: {str(exc).splitlines()[0]}") from None
    run_path = resolve_dir("hydra.run.dir", run_raw, run_dir)
    sweep_path = resolve_dir("hydra.sweep.dir", sweep_raw, sweep_dir)
    _relative_subpath("hydra.sweep.subdir", raw["sweep"].get("subdir"))
    _relative_subpath("hydra.output_subdir", raw.get("output_subdir"))
    check_safe_name("hydra.job.name", raw["job"].get("name"))
    return (sweep_path, str(sweep_raw)) if multirun else (run_path, str(run_raw))


def compose_job(config_name: str, overrides: list[str], dirs: list[Path]) -> DictConfig:
    """Compose one job's config with Hydra's compose API (struct mode, interpolations intact)."""
    return split_hydra(compose_with_hydra(config_name, overrides, dirs))[0]


def split_hydra(cfg: DictConfig) -> tuple[DictConfig, DictConfig]:
    """(the job's config without its ``hydra`` node, that node)."""
    with open_dict(cfg):
        hydra = cfg.pop("hydra")
    return cfg, hydra


def compose_option(group: str, option: str, dirs: list[Path], config_name: str) -> DictConfig:
    """One option of a group alone (``search=cnn_digits``), from the same search path as the jobs
    of ``config_name``: the node a job composed with that option holds under ``group``. Cheaper
    than composing the whole job again."""
    return compose_with_hydra(None, [f"+{group}={option}"], dirs, primary_for=config_name)[group]


def _primary(dirs: list[Path], config_name: str) -> Path:
    return next((d for d in dirs if (d / f"{config_name}.yaml").is_file()), dirs[-1])


def extra_search_path(dirs: list[Path], config_name: str) -> list[str]:
    """The override that adds the search path's other dirs, after the one holding ``config_name``."""
    others = [d for d in dirs if d != _primary(dirs, config_name)]
    return ["hydra.searchpath=[" + ",".join(f"file://{d}" for d in others) + "]"] if others else []


def compose_with_hydra(
    config_name: str | None, overrides: list[str], dirs: list[Path], primary_for: str | None = None
) -> DictConfig:
    """:func:`compose_job` with the ``hydra`` node kept (run dirs, job name, overrides)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException

    # Hydra caches the primary config lookup made before hydra.searchpath applies, so the dir
    # holding the primary config must be the main one; the others follow in search order.
    extra = extra_search_path(dirs, config_name or primary_for)
    primary = _primary(dirs, config_name or primary_for)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(primary), version_base="1.3", job_name="kopt"):
            try:
                return compose(config_name=config_name, overrides=overrides + extra, return_hydra_config=True)
            except (HydraException, OmegaConfBaseException, ValueError) as exc:

                def base() -> DictConfig | None:
                    """The config the bad key was meant for: composed again, so only for an unknown key."""
                    groupish = [o for o in overrides if "." not in o.split("=")[0]]
                    for attempt in (groupish, []):
                        try:
                            return compose(config_name=config_name, overrides=attempt + extra)
                        except Exception:
                            continue
                    return None

                message = _unknown_key_message(exc, base) or str(exc).strip().splitlines()[0]
                raise KoptError(message) from None
    finally:
        GlobalHydra.instance().clear()


def check_flags(argv: list[str], config_name: str, user_dir: str | None) -> None:
    """An option Hydra does not take (``--epochs 5``, ``--n-trials=3``) costs one line, which names
    the config key of that name when there is one (``trainer.epochs=5``)."""
    from hydra._internal.utils import get_args_parser

    known = {s for action in get_args_parser()._actions for s in action.option_strings}
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if not name.startswith("-") or name in known or re.fullmatch(r"-[\d.]+", name):
            continue
        if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("-") and "=" not in argv[i + 1]:
            value = argv[i + 1]
        key = nearest_key(name.lstrip("-").replace("-", "_"), config_name, user_dir)
        if key:
            raise KoptError(
                f"{name}: unknown option; did you mean {key}={value or '...'}? (config keys are set as key=value)"
            )
        raise KoptError(
            f"{name}: unknown option; config keys are set as key=value, and the options are Hydra's "
            "(--cfg, --help, -m, ...)"
        )


def nearest_key(word: str, config_name: str, user_dir: str | None) -> str | None:
    """The config key named ``word`` (its full dotted path or its last part), or the closest name."""
    import difflib

    try:
        cfg = compose_job(config_name, [], search_dirs(user_dir))
    except KoptError:
        return None
    paths: list[str] = []

    def walk(node, prefix: str) -> None:
        for k, v in node.items():
            paths.append(prefix + str(k))
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")

    walk(OmegaConf.to_container(cfg, resolve=False), "")
    if word in paths:
        return word
    by_leaf: dict[str, str] = {}
    for path in sorted(paths, key=lambda p: p.count(".")):  # the shallowest key of a name wins
        by_leaf.setdefault(path.rsplit(".", 1)[-1], path)
    close = difflib.get_close_matches(word, list(by_leaf), n=1, cutoff=0.8)
    return by_leaf[close[0]] if close else None


def compose_and_validate(
    argv: list[str], config_name: str = "config", validators=(), machine: bool = True
) -> tuple[CommandLine, list[DictConfig]]:
    """Check a whole command line: every job is composed and validated, nothing is run. Each
    validator is called as ``validate(cfg, machine=...)``: the facts of this machine (data files,
    your modules) are checked when ``machine`` is true and the command line will run something
    (not ``--cfg job``, which shows a config whatever the machine holds)."""
    line = split_argv(argv)
    check_flags(argv, line.config_name or config_name, line.user_config_dir)
    if line.multirun and line.print_only and not {"--help", "-h", "--hydra-help", "--version"} & set(line.flags):
        raise KoptError(
            "-m (--multirun) cannot be combined with --cfg, --info or --shell-completion; drop -m to print a config"
        )
    if any(f in PRINT_ONLY for f in line.flags):
        return line, []
    dirs = search_dirs(line.user_config_dir)
    name = line.config_name or config_name
    if not any((d / f"{name}.yaml").is_file() for d in dirs):
        raise KoptError(f"--config-name {name}: no {name}.yaml in " + ", ".join(map(str, dirs)))
    parsed = parse_overrides(line.overrides)
    check_group_choices(parsed, group_options(dirs))
    machine = machine and not line.print_only
    cfgs = []
    for job in expand_jobs(parsed, line.multirun):
        cfg = compose_with_hydra(name, job, dirs)
        paths = check_output_paths(cfg, line.multirun)  # before the split: dirs may interpolate hydra.*
        if line.hydra_mode is NOT_COMPOSED:
            line.hydra_mode = cfg.hydra.get("mode")
        if not line.multirun and line.user_config_dir is None and not extra_search_path(dirs, name):
            line.composed = (name, list(job), copy.deepcopy(cfg))  # (4 ms; a composition costs 70)
        cfg, _ = split_hydra(cfg)
        for validate in validators:
            validate(cfg, machine=machine)
        if line.output_dir is None:
            line.output_dir, line.output_pattern = paths
        cfgs.append(cfg)
    return line, cfgs
