"""Compare two finished runs trained on the same folds: per-fold tests, test-set tests, a verdict.

The per-fold score defaults to ``val_accuracy`` (a regression's: its ``trainer.monitor``): the
score of each fold's model on that fold's held-out part, which is what the resampling tests
(Nadeau-Bengio, 5x2cv) are defined on. The shared test set is judged separately, on each run's
``predictions.npz`` ``probs`` (for a k-fold run: the mean of its fold models), by paired tests
that fit the task (TEST_SET): McNemar and the paired bootstrap for classes, the Wilcoxon
signed-rank test and the paired bootstrap on absolute errors (regression) or per-example Hamming
errors (multi-label).
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
    "variance) is derived for resampled test sets; the test-set tests (mcnemar_exact for classes) judge it"
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


# What each task's test-set tests pair, per example, and the score they judge (docs/compare.md):
#   multiclass, binary: whether the predicted class is right; McNemar's exact test and the
#     paired bootstrap of the accuracy difference (Dietterich 1998's recommendation for one test set).
#   regression: the absolute error |y - y_hat| of each example. McNemar needs right/wrong; the
#     absolute error is the per-example loss whose mean is the MAE, so the paired tests are the
#     Wilcoxon signed-rank test of |e_a| - |e_b| (robust to the heavy tails that differences of
#     absolute errors have, where a paired t on them is not) and a paired bootstrap CI of the MAE
#     difference. Lower is better.
#   multilabel: the Hamming error of each example, the share of its labels wrong at 0.5 (what the
#     run's accuracy averages: accuracy = 1 - Hamming loss). The example, not the (example, label)
#     cell, is the independent unit: an example's labels are correlated, so McNemar on cells would
#     overstate n. With one label the Wilcoxon test of the Hamming differences is the sign test on
#     the discordant examples: McNemar's test (asymptotic form). The paired bootstrap gives the CI of the
#     Hamming-loss difference. Lower is better. The log-loss would judge the probabilities, not the
#     labels the run predicts and reports; kopt judges what it reports.
TEST_SET = {
    "regression": {
        "score": "mae",
        "per_example": "absolute error |y - y_hat|",
        "tests": ("wilcoxon_abs_error", "paired_bootstrap_mae"),
        "summary_key": "test_mae",
    },
    "multilabel": {
        "score": "hamming_loss",
        "per_example": "Hamming error: the share of the example's labels wrong at 0.5",
        "tests": ("wilcoxon_hamming", "paired_bootstrap_hamming"),
        "summary_key": None,  # 1 - test_accuracy
    },
}
CLASSES_TEST_SET = {
    "score": "accuracy",
    "per_example": "the predicted class (argmax) is right",
    "tests": ("mcnemar_exact", "paired_bootstrap"),
    "summary_key": TEST_ACCURACY,
}


def test_set_design(task: str) -> dict:
    return TEST_SET.get(task, CLASSES_TEST_SET)


def per_example(run: RunDir, task: str) -> np.ndarray:
    """Each test example's value the test-set tests pair (see TEST_SET), from predictions.npz ``probs``."""
    y, probs = run.predictions["y_true"], run.predictions["probs"]
    if task == "regression":
        return np.abs(probs[:, 0].astype(np.float64) - y)
    if task == "multilabel":
        return ((probs > 0.5) != (y > 0.5)).mean(axis=1)
    return np.argmax(probs, axis=1) == y


def on_test_set(a: RunDir, b: RunDir, alpha: float, seed: int, resamples: int, task: str = "multiclass"):
    """(test results, A's score, B's score) on the shared test set, with the tests that fit ``task``."""
    design = test_set_design(task)
    values_a, values_b = per_example(a, task), per_example(b, task)
    if design is CLASSES_TEST_SET:
        tests = [
            stats.mcnemar_exact(values_a, values_b),
            stats.paired_bootstrap(values_a, values_b, resamples, seed, 1 - alpha),
        ]
    else:
        wilcoxon, bootstrap = design["tests"]
        tests = [
            stats.wilcoxon_per_example(wilcoxon, values_a, values_b),
            stats.paired_bootstrap_mean(bootstrap, values_a, values_b, resamples, seed, 1 - alpha),
        ]
    return tests, float(values_a.mean()), float(values_b.mean())


def primary_test(split: str | None, n_folds: int, metric: str = VAL_ACCURACY, task: str = "multiclass") -> str:
    """The test the overall verdict follows: the recommended one for the design."""
    on_test = test_set_design(task)["tests"][0]  # McNemar (Dietterich 1998), or the task's Wilcoxon
    if on_shared_test_set(metric):
        return on_test  # one shared test set
    if split == "cv5x2" and n_folds == 10:
        return "cv5x2_f"  # Alpaydın 1999: more robust than the 5x2cv t-test
    if n_folds >= 2:
        return "corrected_resampled_t"  # Nadeau & Bengio 2003; the plain paired t is too liberal
    return on_test  # one model each: a test on the one test set


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


def default_metric(a: RunDir, b: RunDir) -> str:
    """``val_accuracy`` when both runs logged it per fold, else A's ``trainer.monitor`` (a regression's
    ``val_mae``, say) when both logged that, else ``val_loss``."""
    logged = [k for k in (a.folds[0] if a.folds else {}) if all(k in f for f in a.folds + b.folds)]
    # (the monitor the run read, auto resolved; an older run's summary has none: its config's)
    monitor = str(a.summary.monitor or (a.config.get("trainer") or {}).get("monitor") or "")
    for name in (VAL_ACCURACY, monitor):
        if name in logged:
            return name
    return "val_loss"


def compare_runs(
    a: RunDir,
    b: RunDir,
    metric: str | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    resamples: int = 10_000,
    sides: dict | None = None,
) -> dict:
    """Everything `comparison.json` holds. Raises KoptError if the runs are not comparable."""
    check_comparable(a, b)
    task = a.task
    if b.task != task:
        from kopt.errors import KoptError

        raise KoptError(f"A and B are not comparable: A is a {task} run, B a {b.task} run; A={a.path} B={b.path}")
    metric = metric or default_metric(a, b)
    scores_a, scores_b = a.fold_scores(metric), b.fold_scores(metric)
    better_high = higher_is_better(metric)
    split = (a.config.get("split") or {}).get("name")
    on_folds, skipped = fold_tests(a, scores_a, scores_b, metric, alpha)
    design = test_set_design(task)
    on_test, score_a, score_b = on_test_set(a, b, alpha, seed, resamples, task)
    test_high = design is CLASSES_TEST_SET  # accuracy goes up; absolute and Hamming errors go down

    tests = []
    for result, on, high in [(r, "folds", better_high) for r in on_folds] + [
        (r, "test set", test_high) for r in on_test
    ]:
        difference = result.detail.get("verdict_difference", result.detail.get("mean_difference", 0.0))
        text, side = verdict(result.p_value, difference, alpha, high)
        tests.append({**result.as_dict(), "data": on, "verdict": text, "significant": side is not None, "better": side})

    primary_name = primary_test(split, len(scores_a), metric, task)
    primary = next(t for t in tests if t["name"] == primary_name)
    corrected = next((t for t in tests if t["name"] == "corrected_resampled_t"), None)
    diff = float(np.mean(scores_a - scores_b))
    mean_difference = {"value": diff, "ci_low": None, "ci_high": None, "ci_level": 1 - alpha, "method": None}
    if corrected is not None:
        mean_difference.update(
            ci_low=corrected["ci_low"], ci_high=corrected["ci_high"], method="Nadeau-Bengio corrected t interval"
        )
    boot = next(t for t in tests if t["name"] == design["tests"][1])
    lead = score_a - score_b if primary["data"] == "test set" else diff
    lead_high = test_high if primary["data"] == "test set" else better_high
    ahead = None if lead == 0 else ("a" if (lead > 0) == lead_high else "b")
    n_models = len(a.folds)
    test_set = {  # predictions.npz's probs: the folds averaged into one model (or the one model)
        "task": task,
        "score": design["score"],
        "higher_is_better": test_high,
        "per_example": design["per_example"],
        "tests": list(design["tests"]),
        "what": folds_averaged(n_models) if n_models > 1 else "the one model",
        "a": score_a,
        "b": score_b,
        "difference": score_a - score_b,
        "ci_low": boot["ci_low"],
        "ci_high": boot["ci_high"],
        "ci_level": boot["ci_level"],
        "method": "paired bootstrap",
        "mean_of_folds": {
            "what": mean_of_folds(n_models) if n_models > 1 else "the one model",
            "a": _summary_score(a, design),
            "b": _summary_score(b, design),
        },
    }
    out = {
        "metric": metric,
        "higher_is_better": better_high,
        "alpha": alpha,
        "task": task,
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
        "test_set": test_set,
    }
    if design is CLASSES_TEST_SET:  # (the keys of a classifier's comparison.json before tasks came)
        keys = ("what", "a", "b", "difference", "ci_low", "ci_high", "ci_level", "method")
        out["test_accuracy"] = {k: test_set[k] for k in keys}
        out["test_accuracy_mean_of_folds"] = test_set["mean_of_folds"]
    return {
        **out,
        "tests": tests,
        "skipped": [{"name": name, "reason": reason} for name, reason in skipped],
        "primary_test": primary_name,
        "ahead": ahead,
        "winner": primary["better"],
        "created_at": datetime.now(UTC).isoformat(),
    }


def _summary_score(run: RunDir, design: dict) -> float | None:
    """The test-set score of the run's fold models, mean over folds (summary.json's metrics)."""
    if design["score"] == "hamming_loss":
        accuracy = _score(run.summary.metrics, TEST_ACCURACY)
        return None if accuracy is None else 1.0 - accuracy
    return _score(run.summary.metrics, design["summary_key"])


def _num(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, list):
        return ", ".join(_num(v, 0) for v in value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:.{digits}f}"


def _test_score(result: dict) -> str:
    score = (result.get("test_set") or {}).get("score", "accuracy")
    return f"{score} (lower is better)" if score != "accuracy" else score


def render(result: dict) -> None:
    """Print the comparison: a table of tests, the differences with CIs, the verdict."""
    from rich.table import Table

    from kopt.console import console

    alpha, metric = result["alpha"], result["metric"]
    table = Table(
        title=f"kopt compare: A vs B ({result['split']}, {result['n_folds']} fold(s), alpha={alpha})",
        caption=f"folds: per-fold {metric}; test set: {_test_score(result)} on the shared test set; differences A - B",
    )
    rows = [
        [t["name"], t["data"], _num(t["statistic"]), _num(t["df"]), _num(t["p_value"]), t["verdict"]]
        for t in result["tests"]
    ]
    # In a narrow terminal (80 columns) "data" and the verdict wrap at their spaces while the test's name and
    # the numbers stay whole (rich had cut "corrected_resampled_t", the test the verdict line names);
    # narrower than that, the name folds rather than being cut.
    labels = ("test", "data", "statistic", "df", "p-value", "verdict")
    wraps = {"data", "verdict"}
    need = sum(
        max([len(label), *(len(word) for row in rows for word in (row[i].split() if label in wraps else [row[i]]))])
        for i, label in enumerate(labels)
    )
    name_whole = need + 3 * len(labels) + 1 <= console.width  # (each column: a border, a space each side)
    for label in labels:
        whole = label not in wraps and (label != "test" or name_whole)
        table.add_column(
            label, justify="left" if label in wraps or label == "test" else "right", no_wrap=whole, overflow="fold"
        )
    for t, row in zip(result["tests"], rows):
        table.add_row(*row, style="bold green" if t["significant"] else None)
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
    ta = result.get("test_set") or {**result["test_accuracy"], "score": "accuracy"}
    name = _test_score(result)
    what = f" ({ta['what']})" if ta.get("what") else ""
    console.print(
        f"test {name}{what}: A {_num(ta['a'])}  B {_num(ta['b'])}  A-B {ta['difference']:+.4f} "
        f"({ta['ci_level']:.0%} bootstrap CI {_num(ta['ci_low'])} .. {_num(ta['ci_high'])})"
    )
    means = ta.get("mean_of_folds") or result.get("test_accuracy_mean_of_folds") or {}
    if means.get("what", "").startswith("mean of") and None not in (means.get("a"), means.get("b")):
        console.print(f"test {name} ({means['what']}): A {_num(means['a'])}  B {_num(means['b'])}")
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
