"""Compare two finished runs trained on the same folds: per-fold tests, test-set tests, a verdict.

The per-fold score defaults to ``val_accuracy``: the score of each fold's model on that
fold's held-out part, which is what the resampling tests (Nadeau-Bengio, 5x2cv) are
defined on. The shared test set is judged separately by McNemar and the paired bootstrap,
on each run's ``predictions.npz`` ``probs`` (for a k-fold run: the mean of its fold models).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np

from kopt import protocol, stats
from kopt.rundir import TEST_ACCURACY, VAL_ACCURACY, RunDir
from kopt.rundir.names import folds_averaged, mean_of_folds
from kopt.runload import check_comparable


def higher_is_better(metric: str) -> bool:
    from kopt.schemas.metrics import direction  # (the table: mae, rmse and loss go down)

    return direction(metric) == "maximize"


def verdict(p_value: float, difference: float, alpha: float, higher_better: bool = True) -> tuple[str, str | None]:
    """(text, winning side or None) for a two-sided p-value and the difference A - B."""
    if p_value is None or not math.isfinite(p_value):
        return "undefined", None
    if p_value >= alpha or difference == 0:
        return "no significant difference", None
    side = "a" if (difference > 0) == higher_better else "b"
    return f"{side.upper()} better", side


def _fold_sizes(run: RunDir) -> tuple[float, float]:
    """Mean training and validation set sizes per fold, for the Nadeau-Bengio correction."""
    splits = run.splits
    n = len(run.folds)
    n_train = float(np.mean([len(splits[f"train_{i}"]) for i in range(n)]))
    return n_train, float(np.mean([len(splits[f"val_{i}"]) for i in range(n)]))


def on_shared_test_set(metric: str) -> bool:
    """Per-fold scores on the one shared test set (``test_*``), not on resampled held-out parts."""
    return metric.startswith("test")


SHARED_TEST_SET = (
    "every fold is scored on the same test set: its n_test/n_train correction (and the 5x2cv "
    "variance) is derived for resampled test sets; mcnemar_exact judges the shared test set"
)


def fold_tests(run: RunDir, scores_a: np.ndarray, scores_b: np.ndarray, metric: str, alpha: float):
    """The per-fold tests that apply to this split, and (name, reason) for those that do not."""
    n = len(scores_a)
    split = (run.config.get("split") or {}).get("name")
    done, skipped = [], []
    if n < 2:
        reason = f"one fold ({split}): per-fold tests need k >= 2 folds"
        return done, [(name, reason) for name in ("paired_t", "corrected_resampled_t", "wilcoxon")]
    level = 1 - alpha
    done.append(stats.paired_t_test(scores_a, scores_b, level))
    if on_shared_test_set(metric):  # the resampling tests do not fit this design (docs/compare.md)
        reason = f"--metric {metric}: {SHARED_TEST_SET}"
        skipped += [(name, reason) for name in ("corrected_resampled_t", "cv5x2_t", "cv5x2_f")]
    else:
        n_train, n_test = _fold_sizes(run)
        done.append(stats.corrected_resampled_t_test(scores_a, scores_b, n_train, n_test, level))
        if split == "cv5x2" and n == 10:
            done.append(stats.cv5x2_t_test(scores_a, scores_b))
            done.append(stats.cv5x2_f_test(scores_a, scores_b))
        else:
            reason = f"split={split}: the 5x2cv tests need split=cv5x2"
            skipped += [("cv5x2_t", reason), ("cv5x2_f", reason)]
    if stats.wilcoxon_min_p(n) <= alpha:
        done.append(stats.wilcoxon_signed_rank(scores_a, scores_b))
    else:
        skipped.append(
            (
                "wilcoxon",
                f"{n} folds: its smallest possible p-value {stats.wilcoxon_min_p(n):.4g} is above alpha={alpha}",
            )
        )
    return done, skipped


def on_test_set(a: RunDir, b: RunDir, alpha: float, seed: int, resamples: int):
    y = a.predictions["y_true"]
    correct_a = np.argmax(a.predictions["probs"], axis=1) == y
    correct_b = np.argmax(b.predictions["probs"], axis=1) == y
    tests = [
        stats.mcnemar_exact(correct_a, correct_b),
        stats.paired_bootstrap(correct_a, correct_b, resamples, seed, 1 - alpha),
    ]
    return tests, float(correct_a.mean()), float(correct_b.mean())


def primary_test(split: str | None, n_folds: int, metric: str = VAL_ACCURACY) -> str:
    """The test the overall verdict follows: the recommended one for the design."""
    if on_shared_test_set(metric):
        return "mcnemar_exact"  # one shared test set: Dietterich 1998's recommendation
    if split == "cv5x2" and n_folds == 10:
        return "cv5x2_f"  # Alpaydın 1999: more robust than the 5x2cv t-test
    if n_folds >= 2:
        return "corrected_resampled_t"  # Nadeau & Bengio 2003; the plain paired t is too liberal
    return "mcnemar_exact"  # one model each: Dietterich 1998's recommendation for one test set


def scoring_protocol(a: RunDir, b: RunDir, metric: str) -> dict:
    """Which protocol (kopt.protocol) produced each side's fold scores, and the warnings it calls for."""
    (pa, sel_a), (pb, sel_b) = protocol.of_run(a.summary.to_dict()), protocol.of_run(b.summary.to_dict())
    selected = not on_shared_test_set(metric) and (sel_a or sel_b)
    warnings = []
    if selected:
        warnings.append(
            f"the {metric} fold scores were selected on the scored folds (protocol: A {pa}, B {pb}): "
            "the side whose validation score fluctuates more gains more, so the per-fold tests reject "
            "too often; train both with trainer.protocol=fixed (kopt ab does by default)"
        )
    if pa != pb:
        warnings.append(f"A and B were scored under different protocols (A {pa}, B {pb})")
    return {"a": pa, "b": pb, "selected_on_scored_folds": selected, "warnings": warnings}


def _score(metrics: dict | None, key: str) -> float | None:
    value = (metrics or {}).get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _side(run: RunDir, extra: dict | None) -> dict:
    return {
        "run_dir": str(run.path),
        "choices": run.summary.choices or {},
        "metrics": run.summary.metrics or {},
        **(extra or {}),
    }


def compare_runs(
    a: RunDir,
    b: RunDir,
    metric: str = VAL_ACCURACY,
    alpha: float = 0.05,
    seed: int = 0,
    resamples: int = 10_000,
    sides: dict | None = None,
) -> dict:
    """Everything `comparison.json` holds. Raises KoptError if the runs are not comparable."""
    task = str((a.summary.data or {}).get("task") or "multiclass") if isinstance(a.summary.data, dict) else ""
    if task in ("regression", "multilabel"):  # McNemar and the test-set bootstrap read one class per example
        from kopt.errors import KoptError

        raise KoptError(
            f"{a.path}: a {task} run; kopt compare and kopt ab pair the classes predicted on the test set, "
            "allowed: runs of a multiclass or binary task"
        )
    check_comparable(a, b)
    scores_a, scores_b = a.fold_scores(metric), b.fold_scores(metric)
    better_high = higher_is_better(metric)
    split = (a.config.get("split") or {}).get("name")
    on_folds, skipped = fold_tests(a, scores_a, scores_b, metric, alpha)
    on_test, acc_a, acc_b = on_test_set(a, b, alpha, seed, resamples)

    tests = []
    for result, on, high in [(r, "folds", better_high) for r in on_folds] + [(r, "test set", True) for r in on_test]:
        text, side = verdict(result.p_value, result.detail.get("mean_difference", 0.0), alpha, high)
        tests.append({**result.as_dict(), "data": on, "verdict": text, "significant": side is not None, "better": side})

    primary_name = primary_test(split, len(scores_a), metric)
    primary = next(t for t in tests if t["name"] == primary_name)
    corrected = next((t for t in tests if t["name"] == "corrected_resampled_t"), None)
    diff = float(np.mean(scores_a - scores_b))
    mean_difference = {"value": diff, "ci_low": None, "ci_high": None, "ci_level": 1 - alpha, "method": None}
    if corrected is not None:
        mean_difference.update(
            ci_low=corrected["ci_low"], ci_high=corrected["ci_high"], method="Nadeau-Bengio corrected t interval"
        )
    boot = next(t for t in tests if t["name"] == "paired_bootstrap")
    lead = acc_a - acc_b if primary["data"] == "test set" else diff
    lead_high = True if primary["data"] == "test set" else better_high
    ahead = None if lead == 0 else ("a" if (lead > 0) == lead_high else "b")
    return {
        "metric": metric,
        "higher_is_better": better_high,
        "alpha": alpha,
        "split": split,
        "n_folds": len(scores_a),
        "protocol": scoring_protocol(a, b, metric),
        "seed": a.summary.seed,
        "a": _side(a, (sides or {}).get("a")),
        "b": _side(b, (sides or {}).get("b")),
        "scores_a": scores_a.tolist(),
        "scores_b": scores_b.tolist(),
        "mean_a": float(scores_a.mean()),
        "mean_b": float(scores_b.mean()),
        "mean_difference": mean_difference,
        "test_accuracy": {  # predictions.npz's probs: the folds averaged into one model (or the one model)
            "what": folds_averaged(len(a.folds)) if len(a.folds) > 1 else "the one model",
            "a": acc_a,
            "b": acc_b,
            "difference": acc_a - acc_b,
            "ci_low": boot["ci_low"],
            "ci_high": boot["ci_high"],
            "ci_level": boot["ci_level"],
            "method": "paired bootstrap",
        },
        "test_accuracy_mean_of_folds": {
            "what": mean_of_folds(len(a.folds)) if len(a.folds) > 1 else "the one model",
            "a": _score(a.summary.metrics, TEST_ACCURACY),
            "b": _score(b.summary.metrics, TEST_ACCURACY),
        },
        "tests": tests,
        "skipped": [{"name": name, "reason": reason} for name, reason in skipped],
        "primary_test": primary_name,
        "ahead": ahead,
        "winner": primary["better"],
        "created_at": datetime.now(UTC).isoformat(),
    }


def _num(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, list):
        return ", ".join(_num(v, 0) for v in value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"


def render(result: dict) -> None:
    """Print the comparison: a table of tests, the differences with CIs, the verdict."""
    from rich.table import Table

    from kopt.console import console

    alpha, metric = result["alpha"], result["metric"]
    table = Table(
        title=f"kopt compare: A vs B ({result['split']}, {result['n_folds']} fold(s), alpha={alpha})",
        caption=f"folds: per-fold {metric}; test set: accuracy on the shared test set; differences A - B",
    )
    for col, justify in (
        ("test", "left"),
        ("data", "left"),
        ("statistic", "right"),
        ("df", "right"),
        ("p-value", "right"),
        ("verdict", "left"),
    ):
        table.add_column(col, justify=justify)
    for t in result["tests"]:
        style = "bold green" if t["significant"] else None
        table.add_row(
            t["name"], t["data"], _num(t["statistic"]), _num(t["df"]), _num(t["p_value"]), t["verdict"], style=style
        )
    console.print(table)
    for s in result["skipped"]:
        console.print(f"[dim]skipped {s['name']}: {s['reason']}[/]")
    scoring = result.get("protocol") or {}
    if scoring:
        console.print(f"fold scores: protocol A {scoring['a']}, B {scoring['b']}")
    for warning in scoring.get("warnings", []):
        console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"A: {result['a']['run_dir']}\nB: {result['b']['run_dir']}")
    md = result["mean_difference"]
    ci = f" ({md['ci_level']:.0%} CI {_num(md['ci_low'])} .. {_num(md['ci_high'])})" if md["ci_low"] is not None else ""
    console.print(f"mean {metric}: A {_num(result['mean_a'])}  B {_num(result['mean_b'])}  A-B {md['value']:+.4f}{ci}")
    ta = result["test_accuracy"]
    what = f" ({ta['what']})" if ta.get("what") else ""
    console.print(
        f"test accuracy{what}: A {_num(ta['a'])}  B {_num(ta['b'])}  A-B {ta['difference']:+.4f} "
        f"({ta['ci_level']:.0%} bootstrap CI {_num(ta['ci_low'])} .. {_num(ta['ci_high'])})"
    )
    means = result.get("test_accuracy_mean_of_folds") or {}
    if means.get("what", "").startswith("mean of") and None not in (means.get("a"), means.get("b")):
        console.print(f"test accuracy ({means['what']}): A {_num(means['a'])}  B {_num(means['b'])}")
    primary = next(t for t in result["tests"] if t["name"] == result["primary_test"])
    if result["winner"]:
        console.print(
            f"[bold green]{result['winner'].upper()} wins[/]: {primary['name']} "
            f"p={_num(primary['p_value'])} < alpha={alpha}"
        )
    else:
        lead = f"{result['ahead'].upper()} is ahead" if result["ahead"] else "the scores are tied"
        console.print(
            f"[bold]no significant difference[/] at alpha={alpha} ({lead}; {primary['name']} "
            f"p={_num(primary['p_value'])})"
        )
