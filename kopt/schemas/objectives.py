"""``tuner.objectives``, ``tuner.constraints`` and ``tuner.pick``: their grammar, checked with the
tuner's schema before TensorFlow or Optuna loads. kopt.tune.planning.objectives measures and applies them."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from kopt.errors import KoptError
from kopt.schemas.metrics import METRICS

# every validation metric a run may log (kopt.schemas.metrics), accuracy and loss first
VAL_METRICS = ("val_accuracy", "val_loss", *(f"val_{n}" for n in METRICS if n != "accuracy"))
COSTS = ("params", "flops", "latency_ms")  # known before training, from the built model
MEASURES = VAL_METRICS + COSTS
DIRECTIONS = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}
# Optuna 5 samplers that take several objectives (CmaEsSampler takes one)
MULTI_OBJECTIVE = ("auto", "bayes", "genetic", "gp", "random", "grid", "qmc")
OPS = ("<=", ">=")


@dataclass(frozen=True)
class Bound:
    measure: str
    op: str  # <= | >=
    limit: float

    def violation(self, value: float) -> float:
        """Optuna's convention: <= 0 is feasible."""
        return value - self.limit if self.op == "<=" else self.limit - value

    def __str__(self) -> str:
        return f"{self.measure}{self.op}{self.limit:g}"


def _measure(name: str, where: str) -> str:
    if name not in MEASURES:
        raise KoptError(f"{where}: unknown measure {name!r}; allowed: {', '.join(MEASURES)}")
    return name


def parse_objectives(items, prefix: str = "tuner") -> list[tuple[str, str]]:
    """``[val_accuracy:max, params:min]`` -> [(measure, maximize|minimize), ...]; at least two."""
    if items is None:
        return []
    if isinstance(items, str) or not isinstance(items, (list, tuple)):
        raise KoptError(f"{prefix}.objectives={items!r}: must be a list such as [val_accuracy:max,params:min]")
    out = []
    for item in items:
        name, _, way = str(item).partition(":")
        where = f"{prefix}.objectives: {item!r}"
        if way.strip() not in DIRECTIONS:
            raise KoptError(
                f"{where}: write <measure>:<max|min>, e.g. val_accuracy:max; allowed measures: {', '.join(MEASURES)}"
            )
        out.append((_measure(name.strip(), where), DIRECTIONS[way.strip()]))
    names = [n for n, _ in out]
    if len(out) < 2 or len(set(names)) < len(names):
        raise KoptError(
            f"{prefix}.objectives={list(items)}: allowed: two or more different measures "
            "(one objective is tuner.metric), e.g. [val_accuracy:max,params:min]"
        )
    return out


def _bound(measure: str, text, where: str) -> Bound:
    m = re.fullmatch(r"\s*(<=|>=)\s*([-+0-9.eE]+)\s*", str(text))
    try:
        limit = float(m.group(2)) if m else math.nan
    except ValueError:
        limit = math.nan
    if not m or not math.isfinite(limit):
        raise KoptError(f"{where}: {measure} {text!r}: write '<=<number>' or '>=<number>', e.g. '<=1e6'")
    return Bound(_measure(measure, where), m.group(1), limit)


def parse_constraints(node, prefix: str = "tuner") -> list[Bound]:
    """``{params: "<=1e6", latency_ms: "<=2"}`` -> bounds."""
    if not node:
        return []
    if not isinstance(node, dict):
        raise KoptError(f"{prefix}.constraints={node!r}: must be a mapping such as {{params: '<=1e6'}}")
    return [_bound(str(k), v, f"{prefix}.constraints") for k, v in node.items()]


PICK = re.compile(r"\s*(max|min)\s+(\w+)\s*(?:where\s+(.+?))?\s*")


def parse_pick(text, prefix: str = "tuner") -> tuple[str, str, list[Bound]] | None:
    """``max val_accuracy where params<=1e5 and latency_ms<=2`` -> (maximize, val_accuracy, bounds)."""
    if text is None:
        return None
    where = f"{prefix}.pick={text!r}"
    m = PICK.fullmatch(str(text))
    if not m:
        raise KoptError(
            f"{where}: write '<max|min> <measure> [where <measure><=|>=<number> [and ...]]', "
            "e.g. 'max val_accuracy where params<=1e5'"
        )
    bounds = []
    for part in re.split(r"\s+and\s+", m.group(3) or "") if m.group(3) else []:
        c = re.fullmatch(r"\s*(\w+)\s*(<=|>=)\s*(\S+)\s*", part)
        if not c:
            raise KoptError(f"{where}: condition {part!r}: write <measure><=<number> or <measure>>=<number>")
        bounds.append(_bound(c.group(1), c.group(2) + c.group(3), where))
    return DIRECTIONS[m.group(1)], _measure(m.group(2), where), bounds


def check_options(tuner, prefix: str = "tuner") -> None:
    """Everything about these keys that can be checked before TensorFlow loads (schema check())."""
    objectives = parse_objectives(tuner.objectives, prefix)
    parse_constraints(tuner.constraints, prefix)
    pick = parse_pick(tuner.pick, prefix)
    if objectives and tuner.name not in MULTI_OBJECTIVE:
        raise KoptError(
            f"{prefix}.objectives with tuner={tuner.name}: its sampler takes one objective; allowed "
            f"tuners: {', '.join(MULTI_OBJECTIVE)}"
        )
    if pick is not None and not objectives:
        raise KoptError(f"{prefix}.pick needs {prefix}.objectives (a single objective has one best trial)")
