"""``kopt compare A B``: statistical tests between two finished runs trained on the same folds.

Works on the saved arrays only (summary.json, splits.npz, predictions.npz): no TensorFlow.
"""

from __future__ import annotations

from kopt.argparser import MAX_RESAMPLES, ArgumentParser, non_negative_int, probability, resamples
from kopt.rundir.names import VAL_ACCURACY
from kopt.schemas.metrics import FOLD_SCORES as FOLD_METRICS

DESCRIPTION = """\
Compare two finished `kopt train` runs A and B that share dataset, split, seed and folds.
Per-fold tests (paired t, Nadeau-Bengio corrected t, Wilcoxon with enough folds, and for
split=cv5x2 Dietterich's 5x2cv t and Alpaydin's 5x2cv F) on each fold's --metric; on the
shared test set an exact McNemar test and a paired bootstrap CI of the accuracy difference
(regression: Wilcoxon signed-rank on the absolute errors and a bootstrap CI of the MAE
difference; multi-label: the same on each example's Hamming error).
Differences are A - B. Writes comparison.json to --out (default runs/compare/<timestamp>/)."""


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="kopt compare",
        description=DESCRIPTION,
        epilog="example: kopt compare runs/train/2026-01-01_10-00-00_000000 runs/train/2026-01-01_11-00-00_000000",
    )
    p.add_argument("run_a", metavar="A", help="run dir of side A")
    p.add_argument("run_b", metavar="B", help="run dir of side B")
    p.add_argument(
        "--metric",
        default=None,
        choices=FOLD_METRICS,
        help=f"per-fold score to pair (default {VAL_ACCURACY}: each fold's held-out part; without it, the run's "
        f"trainer.monitor, e.g. val_mae); one of {', '.join(FOLD_METRICS)}",
    )
    p.add_argument(
        "--alpha", type=probability, default=0.05, help="significance level (default 0.05; CIs at 1 - alpha)"
    )
    p.add_argument("--bootstrap-seed", type=non_negative_int, default=0, help="bootstrap seed (default 0)")
    p.add_argument(
        "--resamples",
        type=resamples,
        default=10_000,
        help=f"bootstrap resamples (default 10000, at most {MAX_RESAMPLES})",
    )
    p.add_argument("--out", default=None, help="folder for comparison.json (default runs/compare/<timestamp>/)")
    return p


def main(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    from kopt.comparison import compare_runs, render
    from kopt.console import console
    from kopt.rundir import atomic_write_json, load_run
    from kopt.runload import output_dir

    a, b = load_run(args.run_a), load_run(args.run_b)
    result = compare_runs(a, b, args.metric, args.alpha, args.bootstrap_seed, args.resamples)
    out = output_dir("compare", args.out)
    atomic_write_json(out / "comparison.json", result)
    render(result)
    console.print(f"[dim]written: {out / 'comparison.json'}[/]")
