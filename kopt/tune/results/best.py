"""``kopt train --config-dir runs/tune/<study> --config-name best [overrides]``.

best.yaml (written by :func:`write_best_yaml`) is a readable Hydra primary config:
the best trial's group choices in its defaults list, then its full values. Hydra alone would merge
those values over whatever the command line picks (``model=mlp`` would get the CNN's keys back,
``split=kfold split.k=5`` would fail on ``split.k``), so kopt reads it as what it stands for: the
root config plus the trial's group choices and every value that differs, as overrides, followed
by the user's. A group the user picks drops the trial's values in that group; a key the user sets
wins. :func:`best_config` rebuilds a finished trial's config (best.yaml's values, the retrain's
config). No TensorFlow here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

MARKER = "# kopt tune: the best trial"  # the first line of a best.yaml
ROOT_CONFIG = "config"
PLAIN = re.compile(r"[A-Za-z_][\w\-./]*")  # a string Hydra's grammar reads back as itself


def hydra_value(value: Any) -> str:
    """A value in Hydra's override grammar."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if PLAIN.fullmatch(text) and text.lower() not in ("true", "false", "null", "nan", "inf"):
        return text
    text = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def _leaves(node: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_leaves(value, path + "."))
        else:
            out[path] = value
    return out


def _covers(key: str, path: str) -> bool:
    return path == key or path.startswith(key + ".")


def find_best_yaml(config_name: str | None, dirs: list[Path]) -> Path | None:
    """The primary config file when it is a best.yaml that kopt tune wrote, else None."""
    if not config_name:
        return None
    for d in dirs:
        path = d / f"{config_name}.yaml"
        if path.is_file():
            with open(path) as fh:
                return path if fh.readline().startswith(MARKER) else None
    return None


def best_overrides(path: Path, user_overrides: list[str], dirs: list[Path]) -> list[str]:
    """The overrides that turn the root config into ``path``'s config, less what the user's own
    overrides replace (a group they pick, a key they set)."""
    from omegaconf import OmegaConf

    from kopt.compose import compose_job, compose_with_hydra

    data = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    choices: dict[str, str] = {}
    for entry in data.pop("defaults", []) or []:
        if isinstance(entry, dict):
            for key, option in entry.items():
                choices[key.removeprefix("override ").strip()] = str(option)
    given = [o.split("=", 1)[0].lstrip("+~") for o in user_overrides if "=" in o or o.startswith("~")]
    default = compose_with_hydra(ROOT_CONFIG, [], dirs).hydra.runtime.choices
    picks = [f"{g}={o}" for g, o in choices.items() if g not in given and default.get(g) != o]
    composed = _leaves(OmegaConf.to_container(compose_job(ROOT_CONFIG, picks, dirs), resolve=True))
    values = []
    for key, value in _leaves(data).items():
        if any(_covers(g, key) for g in given):
            continue
        if key not in composed:
            values.append(f"+{key}={hydra_value(value)}")
        elif composed[key] != value:
            values.append(f"{key}={hydra_value(value)}")
    return picks + values


def expand_best(argv: list[str]) -> list[str]:
    """``argv`` with ``--config-name best`` (a kopt best.yaml) replaced by the equivalent overrides,
    placed before the user's (Hydra takes the overrides as one run of positionals). Any other
    command line comes back unchanged."""
    from kopt.compose import search_dirs, split_argv

    line = split_argv(argv)
    dirs = search_dirs(line.user_config_dir)
    path = find_best_yaml(line.config_name, dirs)
    if path is None:
        return argv
    ours = best_overrides(path, line.overrides, dirs)
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        flag = arg.partition("=")[0]
        if flag in ("--config-name", "-cn"):
            skip = "=" not in arg
            continue
        out.append(arg)
    first = next((i for i, a in enumerate(out) if a in set(line.overrides)), len(out))
    return out[:first] + ours + out[first:]


def best_config(plan, trial):
    """The train config of a finished trial, rebuilt from its parameters and the study's plan."""
    from optuna.trial import FixedTrial

    choices, values = plan.space.sample(FixedTrial(dict(trial.params)))
    return plan.trial_config(choices, values)


def write_best_yaml(study_dir: Path, plan, trial, groups: dict[str, list[str]], stem: str = "best") -> Path:
    """A primary config for ``kopt train --config-dir <study dir> --config-name best``: the train
    root config, each group overridden to the best trial's option, then every value explicitly.
    The first line is :data:`MARKER`: kopt train reads such a file as overrides."""
    from omegaconf import OmegaConf

    from kopt.rundir import atomic_write_text

    cfg = best_config(plan, trial)
    defaults = ["config"]
    for group, options in groups.items():
        node = cfg.get(group)
        name = node.get("name") if node is not None and hasattr(node, "get") else None
        if name in options:
            defaults.append({f"override {group}": name})
    defaults.append("_self_")
    body = OmegaConf.to_yaml(OmegaConf.create({"defaults": defaults}))
    value = trial.values[0] if getattr(trial, "values", None) else trial.value
    header = (
        f"{MARKER} (#{trial.number}, {plan.metric}={value:.6g}) of study "
        f"'{plan.study_name}'.\n# Rerun: kopt train --config-dir {study_dir} --config-name {stem}\n"
        "# Overrides apply on top, e.g. split=kfold split.k=5 or model=mlp (see kopt/tune/results/best.py).\n"
    )
    path = Path(study_dir) / f"{stem}.yaml"
    atomic_write_text(path, header + body + "\n" + OmegaConf.to_yaml(cfg))
    return path
