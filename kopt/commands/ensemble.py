"""``kopt ensemble``: one ensemble from saved test-set probabilities (no TensorFlow, nothing re-run);
with --study, the top trials by validation scored on the test set by their saved models."""

from __future__ import annotations

from kopt.argparser import ArgumentParser, positive_int
from kopt.ensemble import METHODS
from kopt.errors import KoptError, RunFailed

DESCRIPTION = """\
Ensemble saved test-set predictions and evaluate on the shared test set (softmax
probabilities; a regression's values, scored by mae and rmse; one probability per label):
  kopt ensemble RUN                      the fold models of one k-fold run
  kopt ensemble RUN1 RUN2 ...            several runs (each run's own prediction is a member)
  kopt ensemble --study DIR --top K      the K best completed trials (by validation) of a `kopt tune`
                                         study, scored on the test set here by their saved models
                                         (K <= the study's tuner.keep_models)
--method mean averages probabilities (or values), vote takes the majority class (multi-label:
per label; ties: higher mean probability), weighted averages with weights proportional to each
member's val_accuracy; a regression takes mean only.
Members must share the test set. Writes ensemble.json and predictions.npz to --out
(default runs/ensemble/<timestamp>/)."""


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="kopt ensemble", description=DESCRIPTION)
    p.add_argument("runs", nargs="*", metavar="RUN", help="finished train run dir(s)")
    p.add_argument("--study", default=None, help="a kopt tune study dir (runs/tune/<study>)")
    p.add_argument("--top", type=positive_int, default=5, help="with --study: how many of the best trials (default 5)")
    p.add_argument("--method", choices=METHODS, default="mean", help="how members are combined (default mean)")
    p.add_argument("--out", default=None, help="output folder (default runs/ensemble/<timestamp>/)")
    return p


def render(result: dict, out) -> None:
    from rich.table import Table

    from kopt.console import console, fmt

    names = result.get("scores") or ["accuracy", "loss"]
    short = {"accuracy": "test_acc", "loss": "test_loss", "mae": "test_mae", "rmse": "test_rmse"}
    table = Table(
        title=f"kopt ensemble: {result['method']} of {result['n_members']} members ({result['n_test']} test examples)"
    )
    val = any(m["val_accuracy"] is not None for m in result["members"])  # (a regression logs none)
    for col in ("member", *(["val_acc"] if val else []), "weight", *(short[n] for n in names)):
        table.add_column(col, justify="left" if col == "member" else "right")
    for m in result["members"]:
        row = [fmt(m["val_accuracy"])] if val else []
        table.add_row(m["name"], *row, fmt(m["weight"]), *(fmt(m[n]) for n in names))
    mm, ens, gain = result["mean_member"], result["ensemble"], result["gain"]
    blank = ["", ""] if val else [""]
    table.add_row("mean member", *blank, *(fmt(mm[n]) for n in names), style="bold")
    table.add_row("ensemble", *blank, *(fmt(ens[n]) for n in names), style="bold green")
    gains = ["-" if gain[n] is None else f"{gain[n]:+.4f}" for n in names]
    table.add_row("gain (ens - mean)", *blank, *gains, style="bold")
    console.print(table)
    first = names[0]
    console.print(
        f"ensemble vs best member ({result['best_member']['name']}): {first} {gain[f'{first}_over_best']:+.4f}"
        + ("" if first == "accuracy" else " (lower is better)")
    )
    console.print(f"[dim]written: {out / 'ensemble.json'}, {out / 'predictions.npz'}[/]")


def main(argv: list[str]) -> None:
    args = parser().parse_intermixed_args(argv)
    if bool(args.runs) == bool(args.study):
        raise KoptError("give either run dir(s) or --study DIR (see kopt ensemble --help)")
    from kopt import ensemble
    from kopt.rundir import atomic_savez, atomic_write_json, load_run
    from kopt.runload import output_dir

    sources: dict = {}
    truth = None  # a study's members are scored here, on the test set (its trials never are)
    if args.study:
        members, sources["study"], truth = ensemble.study_members(args.study, args.top)
    elif len(args.runs) == 1:
        members = ensemble.fold_members(load_run(args.runs[0]))
        sources["run"] = args.runs[0]
    else:
        members = ensemble.run_members([load_run(r) for r in args.runs])
        sources["runs"] = list(args.runs)
    evaluated = ensemble.evaluate(members, args.method, truth)
    result = {**evaluated["result"], "sources": sources}
    out = output_dir("ensemble", args.out)
    if out.exists() and not out.is_dir():
        raise KoptError(f"--out {out}: is a file; give a folder")
    new = [p for p in (out, *out.parents) if not p.exists()]  # folders this command creates
    written = False
    try:
        atomic_savez(out / "predictions.npz", **evaluated["arrays"])
        written = True
        atomic_write_json(out / "ensemble.json", result)  # written last: its presence marks a complete dir
    except OSError as exc:  # a full disk, a folder gone read-only: one line, nothing of ours left
        if written:
            (out / "predictions.npz").unlink(missing_ok=True)
        for folder in new:
            try:
                folder.rmdir()
            except OSError:
                pass
        raise RunFailed(f"I/O error on {out}: {exc.strerror or exc}; nothing was written") from None
    render(result, out)
