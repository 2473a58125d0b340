"""A study's plan (:class:`TunePlan`): what kopt tune built from the command line, kept with the
study (its system attribute) and in the study dir (plan.json). Workers and reruns read it back.
Built by :func:`kopt.tune.planning.plan.build_plan`; this module only holds and stores it, so that modules
the planning itself uses (warm start, the study dir's owner file) can read a stored plan too."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from kopt.tune.planning.space import SearchSpace, combo_key, flatten, parse_search
from kopt.tune.store import optuna_api

ATTR = "kopt.plan"  # study user attribute: PLAN_FILE, a short pointer (studies before it: the plan itself)
SYSTEM_ATTR = "kopt:plan"  # study system attribute holding the plan (workers on any machine read it)
PLAN_FILE = "plan.json"  # the plan, in the study dir, for people and their tools
VERSION = 1


@dataclass
class TunePlan:
    study_name: str
    tuner: dict
    pruner: dict
    search: dict  # flat search node: path -> expression (as written)
    bases: dict[str, dict]  # combo key ("" or "model=cnn,...") -> train config
    seed: int
    metric: str
    direction: str
    n_trials: int  # the study's total (grid: its size unless smaller)
    grid_size: int | None = None
    version: int = VERSION
    space: SearchSpace = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self):
        if self.space is None:
            self.space = parse_search(self.search)

    # -- the study's copy -------------------------------------------------------------------
    def to_attr(self) -> dict:
        data = asdict(self)
        data.pop("space")
        return data

    @classmethod
    def from_attr(cls, data: dict) -> TunePlan:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "space"}
        return cls(**fields)

    def fingerprint(self) -> dict:
        """What must match for a rerun to resume a study (tuner and pruner options may change)."""
        return {
            "search": self.search,
            "bases": self.bases,
            "metric": self.metric,
            "direction": self.direction,
            "objectives": self.tuner.get("objectives"),
        }

    def differences(self, other: TunePlan) -> list[str]:
        mine, theirs = self.fingerprint(), other.fingerprint()
        diffs = []
        for key in ("metric", "direction", "objectives"):
            if mine[key] != theirs[key]:
                diffs.append(f"tuner.{key} ({theirs[key]} -> {mine[key]})")
        old, new = flatten(theirs["search"]), flatten(mine["search"])
        diffs += [
            f"search.{k} ({old.get(k)} -> {new.get(k)})"
            for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k)
        ]
        if set(mine["bases"]) != set(theirs["bases"]):
            diffs.append("the searched config groups")
        else:
            for key in sorted(mine["bases"]):
                a, b = flatten(theirs["bases"][key]), flatten(mine["bases"][key])
                diffs += [f"{k} ({a.get(k)} -> {b.get(k)})" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        return list(dict.fromkeys(diffs))

    # -- trials ------------------------------------------------------------------------------
    def trial_config(self, choices: dict[str, str], values: dict[str, Any]) -> DictConfig:
        cfg = OmegaConf.create(copy.deepcopy(self.bases[combo_key(choices)]))
        for key, value in values.items():
            OmegaConf.update(cfg, key, value, merge=False)
        return cfg

    @property
    def tuner_name(self) -> str:
        return self.tuner["name"]

    @property
    def pruner_name(self) -> str:
        return self.pruner["name"]


# -- where a study keeps its plan ------------------------------------------------------------


def stored_plan(study) -> dict | None:
    """The plan a study was made with: its system attribute, or (a study made before kopt kept it
    there) the plan itself in the user attribute; None for a study kopt did not make."""
    stored = optuna_api.study_system_attrs(study).get(SYSTEM_ATTR)
    if stored is None:
        legacy = study.user_attrs.get(ATTR)
        stored = legacy if isinstance(legacy, dict) else None
    return stored


def store_plan(study, plan: TunePlan) -> None:
    """The plan as a system attribute (Optuna's CLI and dashboard show user attributes, and a
    2 kB one floods them) and a short pointer to the study dir's copy as the user attribute."""
    optuna_api.set_study_system_attr(study, SYSTEM_ATTR, plan.to_attr())
    if study.user_attrs.get(ATTR) != PLAN_FILE:
        study.set_user_attr(ATTR, PLAN_FILE)
