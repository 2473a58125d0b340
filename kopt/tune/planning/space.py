"""The search space: the ``search:`` node, written in Hydra's sweep grammar, as Optuna parameters.

Keys are config paths, leaves are sweep expressions parsed by Hydra's ``OverridesParser``::

    search:
      optimizer.lr: tag(log, interval(1e-4, 1e-1))   # FloatDistribution(log=True)
      model.width: int(interval(16, 128))             # IntDistribution
      trainer.batch_size: choice(32, 64, 128)         # CategoricalDistribution
      model.depth: range(1, 4)                        # IntDistribution(1, 3), Python's range
      trainer.epochs: 5                               # a plain value is fixed in every trial

A config group can itself be searched, and each of its options can have its own parameters
(conditional parameters), sampled only in trials that picked that option::

    search:
      model: choice(mlp, cnn)          # or model.name: choice(mlp, cnn)
      model.mlp.width: choice(32, 64)  # only when model=mlp; sets model.width
      model.cnn.filters: choice(16, 32)

No TensorFlow here; Optuna is imported where a trial samples.
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass, field
from typing import Any

from kopt.errors import KoptError

GROUPS = ("dataset", "split", "model", "regularizer", "augment", "optimizer", "trainer")
EXPRESSIONS = "choice(...), range(...), interval(...), int(interval(...)), tag(log, interval(...)) or a fixed value"
Scalar = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Dist:
    """One parameter's distribution, independent of Optuna (it also gives grid values and probes)."""

    kind: str  # categorical | int | float
    expr: str
    choices: tuple = ()
    low: float = 0
    high: float = 0
    step: float | None = None
    log: bool = False

    def suggest(self, trial, name: str):
        if self.kind == "categorical":
            return trial.suggest_categorical(name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), step=self.step, log=self.log)

    def grid_values(self, name: str) -> list:
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        if self.step is None:
            raise KoptError(
                f"search.{name}={self.expr}: tuner=grid cannot enumerate a continuous interval; "
                "allowed: choice(...), range(...) or int(interval(...))"
            )
        return _float_steps(self.low, self.high, self.step)

    def probes(self) -> list:
        """Values that a config check must accept before any trial runs."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [float(self.low), float(self.high)]


@dataclass(frozen=True)
class Param:
    name: str  # Optuna's parameter name: the search path
    target: str  # the config key it sets (the group, for a group choice)
    dist: Dist
    group_choice: bool = False
    when: tuple[str, str] | None = None  # (group, option): sampled only in trials with that option


@dataclass(frozen=True)
class Fixed:
    name: str
    target: str
    value: Any
    when: tuple[str, str] | None = None


@dataclass
class SearchSpace:
    params: list[Param] = field(default_factory=list)
    fixed: list[Fixed] = field(default_factory=list)

    @property
    def groups(self) -> dict[str, list[str]]:
        """Searched config groups and their candidate options."""
        return {p.target: list(p.dist.choices) for p in self.params if p.group_choice}

    @property
    def conditional(self) -> list[Param]:
        return [p for p in self.params if p.when is not None]

    def combos(self) -> list[dict[str, str]]:
        """Every combination of searched group options (one base config each)."""
        combos: list[dict[str, str]] = [{}]
        for group, options in self.groups.items():
            combos = [{**c, group: o} for c in combos for o in options]
        return combos

    def sample(self, trial) -> tuple[dict[str, str], dict[str, Any]]:
        """Suggest this trial's parameters: (group choices, {config key: value})."""
        choices = {p.target: p.dist.suggest(trial, p.name) for p in self.params if p.group_choice}
        values: dict[str, Any] = {}
        for fixed in self.fixed:
            if active(fixed.when, choices):
                values[fixed.target] = fixed.value
        for p in self.params:
            if not p.group_choice and active(p.when, choices):
                values[p.target] = p.dist.suggest(trial, p.name)
        return choices, values

    def grid(self) -> dict[str, list]:
        if self.conditional:
            names = ", ".join(f"search.{p.name}" for p in self.conditional)
            raise KoptError(
                f"tuner=grid cannot search conditional parameters ({names}): the grid would repeat "
                "configs; use tuner=random or tuner=bayes, or one grid study per option"
            )
        return {p.name: p.dist.grid_values(p.name) for p in self.params}

    def describe(self) -> list[str]:
        lines = []
        for p in self.params:
            cond = f"  (when {p.when[0]}={p.when[1]})" if p.when else ""
            lines.append(f"{p.name}: {p.dist.expr}{cond}")
        for f in self.fixed:
            cond = f"  (when {f.when[0]}={f.when[1]})" if f.when else ""
            lines.append(f"{f.name}: {f.value!r} (fixed){cond}")
        return lines


def active(when: tuple[str, str] | None, choices: dict[str, str]) -> bool:
    return when is None or choices.get(when[0]) == when[1]


def combo_key(choices: dict[str, str]) -> str:
    """The key of a base config in the study: ``model=cnn,optimizer=sgd`` ('' with no group searched)."""
    return ",".join(f"{g}={o}" for g, o in sorted(choices.items()))


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts (and dotted keys) to {dotted path: leaf}."""
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


def _float_steps(low: float, high: float, step: float) -> list[float]:
    d_low, d_step = decimal.Decimal(str(low)), decimal.Decimal(str(step))
    n = int((decimal.Decimal(str(high)) - d_low) / d_step) + 1
    return [float(d_low + i * d_step) for i in range(n)]


def parse_expression(name: str, raw: Any) -> Dist | tuple[str, Any]:
    """A leaf of the search node: a Dist, or ("fixed", value) for a plain value."""
    if isinstance(raw, (list, tuple, dict)):
        hint = f"; for a choice write choice({', '.join(map(str, raw))})" if isinstance(raw, (list, tuple)) else ""
        raise KoptError(
            f"search.{name}: a {type(raw).__name__} is not a search expression; allowed: {EXPRESSIONS}{hint}"
        )
    if not isinstance(raw, str):
        return ("fixed", raw)
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from hydra.errors import HydraException

    try:
        override = OverridesParser.create().parse_override(f"x={raw}")
    except HydraException as exc:  # OverrideParseException is one
        detail = str(exc).strip().splitlines()[0]
        raise KoptError(f"search.{name}={raw}: cannot parse ({detail}); allowed: {EXPRESSIONS}") from None
    if not override.is_sweep_override():
        return ("fixed", override.value())
    sweep = override.value()
    tags = set(getattr(sweep, "tags", ()) or ())
    if tags - {"log"}:
        raise KoptError(f"search.{name}={raw}: unknown tag {sorted(tags - {'log'})[0]!r}; allowed: log")
    log = "log" in tags
    if isinstance(sweep, ChoiceSweep):
        if log:
            raise KoptError(
                f"search.{name}={raw}: tag(log, ...) applies to interval(...) and range(...), not choice(...)"
            )
        values = list(sweep.list)
        bad = [v for v in values if not isinstance(v, Scalar)]
        if bad:
            raise KoptError(
                f"search.{name}={raw}: choice values must be numbers, strings, booleans or null; got {bad[0]!r}"
            )
        if len(values) != len(set(map(repr, values))):
            raise KoptError(f"search.{name}={raw}: choice(...) lists a value twice")
        return Dist("categorical", raw, choices=tuple(values))
    if isinstance(sweep, RangeSweep):
        values = list(override.sweep_iterator())
        if not values:
            raise KoptError(f"search.{name}={raw}: the range is empty (range(start, stop, step) excludes stop)")
        step = abs(sweep.step)
        low, high = min(values), max(values)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            if log and step != 1:
                raise KoptError(f"search.{name}={raw}: tag(log, range(...)) needs step 1")
            return Dist("int", raw, low=low, high=high, step=step, log=log)
        if log:
            raise KoptError(
                f"search.{name}={raw}: tag(log, ...) of a float range is not supported; use tag(log, interval(...))"
            )
        low, high, step = (float(f"{v:.12g}") for v in (low, high, step))  # 0.30000000000000004 -> 0.3
        return Dist("float", raw, low=low, high=_float_steps(low, high, step)[-1], step=step)
    if isinstance(sweep, IntervalSweep):
        start, end = sweep.start, sweep.end
        if start is None or end is None or not start < end:
            raise KoptError(f"search.{name}={raw}: interval(low, high) needs low < high")
        if log and start <= 0:
            raise KoptError(f"search.{name}={raw}: tag(log, ...) needs low > 0")
        if isinstance(start, int) and isinstance(end, int):
            return Dist("int", raw, low=start, high=end, step=1, log=log)
        if not (math.isfinite(start) and math.isfinite(end)):
            raise KoptError(f"search.{name}={raw}: interval bounds must be finite")
        return Dist("float", raw, low=float(start), high=float(end), log=log)
    raise KoptError(f"search.{name}={raw}: unsupported sweep; allowed: {EXPRESSIONS}")


def parse_search(node: dict | None) -> SearchSpace:
    """The ``search`` node (nested or dotted keys) as a SearchSpace. Config paths are checked later,
    against the composed base configs (see kopt.tune.planning.plan)."""
    flat = flatten(node or {})
    flat = {k: v for k, v in flat.items() if k and not (isinstance(v, dict) and not v)}
    space = SearchSpace()
    # group choices first: they decide which later keys are conditional
    for path in list(flat):
        parts = path.split(".")
        if parts[0] in GROUPS and (len(parts) == 1 or parts[1:] == ["name"]):
            raw = flat.pop(path)
            if parts[0] in space.groups:
                raise KoptError(
                    f"search.{path}: group '{parts[0]}' is searched twice (search.{parts[0]} and search.{parts[0]}.name)"
                )
            dist = parse_expression(path, raw)
            if isinstance(dist, tuple) or dist.kind != "categorical":
                raise KoptError(
                    f"search.{path}={raw}: a config group is searched with choice(option, ...), "
                    f"e.g. choice(mlp, cnn); to fix one option, set {parts[0]}=<option>"
                )
            if not all(isinstance(c, str) for c in dist.choices):
                raise KoptError(f"search.{path}={raw}: options of group '{parts[0]}' are names, e.g. choice(mlp, cnn)")
            space.params.append(Param(parts[0], parts[0], dist, group_choice=True))
    groups = space.groups
    for path, raw in flat.items():
        parts = path.split(".")
        when, target = None, path
        if parts[0] in groups and len(parts) >= 3 and parts[1] in groups[parts[0]]:
            when, target = (parts[0], parts[1]), ".".join([parts[0], *parts[2:]])
        dist = parse_expression(path, raw)
        if isinstance(dist, tuple):
            space.fixed.append(Fixed(path, target, dist[1], when))
        else:
            space.params.append(Param(path, target, dist, when=when))
    return space
