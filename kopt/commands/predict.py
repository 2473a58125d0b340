"""``kopt predict SOURCE INPUT``: class probabilities of new examples, as a CSV."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np

from kopt.argparser import ArgumentParser, non_negative_int, positive_int
from kopt.errors import KoptError, RunFailed
from kopt.tta import MODES

DESCRIPTION = """\
Predict with a finished model and write one CSV row per example: id (or file name), the
predicted class name, and one probability column per class (prob_<class>).
SOURCE: a train run dir (a k-fold run averages its fold models), a study dir (the retrained
best trial, or --trial N), or an ensemble dir (kopt ensemble).
INPUT: an .npz (x or x_test, with y/y_test and ids when present) or .npy array, a CSV with the
training feature columns (id and label columns used when present), an image folder (class
sub-folders give labels) or image files, or dataset=NAME (its test split).
With labels, accuracy and a confusion matrix are printed and a label column is written.
The model takes raw inputs, as training read them: it normalises them itself."""


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="kopt predict", description=DESCRIPTION)
    p.add_argument("source", metavar="SOURCE", help="a train run, study or ensemble dir")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="examples: .npz, .npy, .csv, images, dataset=NAME")
    p.add_argument("--out", default=None, help="the CSV to write (default runs/predict/<timestamp>/predictions.csv)")
    p.add_argument("--trial", type=non_negative_int, default=None, help="with a study: this trial's model")
    p.add_argument("--tta", choices=MODES, default="none", help="test-time augmentation of images (default none)")
    p.add_argument("--batch-size", type=positive_int, default=256, help="examples per forward pass (default 256)")
    return p


def write_csv(
    path: Path, ids: list[str], classes: list[str], probs: np.ndarray, y: np.ndarray | None, task: str = "multiclass"
) -> None:
    import csv
    import io

    from kopt.rundir import atomic_write_text

    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    if task in ("regression", "multilabel"):  # the value; or the labels at 0.5, then each label's probability
        out.writerow(["id", "predicted", *(["label"] if y is not None else []), *(f"prob_{c}" for c in classes)])
        for i, row in enumerate(probs):
            if task == "regression":
                pred, label = f"{row[0]:.6g}", f"{y[i]:.6g}" if y is not None else None
            else:
                pred = ";".join(c for c, p in zip(classes, row) if p > 0.5)
                label = ";".join(c for c, v in zip(classes, y[i]) if v > 0.5) if y is not None else None
            probs_out = [] if task == "regression" else [f"{p:.6g}" for p in row]
            out.writerow([ids[i], pred, *([label] if y is not None else []), *probs_out])
        atomic_write_text(path, buf.getvalue())
        return
    out.writerow(["id", "predicted", *(["label"] if y is not None else []), *(f"prob_{c}" for c in classes)])
    pred = probs.argmax(axis=1)
    for i, row in enumerate(probs):
        out.writerow(
            [ids[i], classes[pred[i]], *([classes[y[i]]] if y is not None else []), *(f"{p:.6g}" for p in row)]
        )
    atomic_write_text(path, buf.getvalue())


def render_scores(classes: list[str], probs: np.ndarray, y: np.ndarray) -> None:
    from rich.table import Table

    from kopt.console import console

    pred = probs.argmax(axis=1)
    console.print(f"accuracy {float((pred == y).mean()):.4f} ({int((pred == y).sum())}/{len(y)})")
    if len(classes) > 20:
        console.print(f"[dim]confusion matrix left out: {len(classes)} classes (the CSV has every row)[/]")
        return
    matrix = np.zeros((len(classes), len(classes)), "int64")
    np.add.at(matrix, (y, pred), 1)
    table = Table(title="confusion matrix (rows: true class, columns: predicted)")
    table.add_column("true \\ predicted")
    for c in classes:
        table.add_column(c, justify="right")
    for c, row in zip(classes, matrix):
        table.add_row(c, *(str(v) for v in row))
    console.print(table)


def main(argv: list[str]) -> None:
    args = parser().parse_intermixed_args(argv)
    from kopt.predict.inputs import check_exist
    from kopt.predict.source import resolve
    from kopt.rundir import check_writable
    from kopt.runload import output_dir

    source = resolve(args.source, args.trial)
    if args.tta != "none":
        from kopt.schemas.trainer import check_tta_flips

        for member in source.members:  # flips where the run's dataset says they change the class
            check_tta_flips(args.tta, (member.run.config.get("dataset") or {}).get("name"), "--tta")
        if len(args.inputs) == 1 and args.inputs[0].startswith("dataset="):  # or the input's dataset does
            check_tta_flips(args.tta, args.inputs[0].split("=", 1)[1], "--tta")
    check_exist(args.inputs)
    classes = source.class_names
    out = Path(args.out) if args.out else output_dir("predict", None) / "predictions.csv"
    if out.is_dir():
        raise KoptError(f"--out {out}: is a folder; give a CSV file name")
    check_writable(out.parent)
    from kopt.runtime import setup_tensorflow

    setup_tensorflow(int(source.run.summary.seed or 0), True, 0, 0, False)
    from kopt.console import console
    from kopt.predict import model as averaged
    from kopt.predict.inputs import read_inputs
    from kopt.tta import average, check

    model = averaged.build(source)
    shape = tuple(model.input_shape[1:])
    inputs = read_inputs(args.inputs, source, shape)
    check(args.tta, inputs.x.shape, "--tta")
    probs = average(lambda v: averaged.predict(model, v, args.batch_size), inputs.x, args.tta)
    if probs.shape[1] != max(len(classes), 1):
        raise KoptError(
            f"{source.path}: the model has {probs.shape[1]} outputs but summary.json names "
            f"{len(classes)} classes (data.class_names)"
        )
    new = [p for p in (out.parent, *out.parent.parents) if not p.exists()]  # folders this command creates
    try:
        write_csv(out, inputs.ids, classes, probs, inputs.y, source.task)
    except OSError as exc:  # a full disk, a folder gone read-only: the CSV is written whole or not at all
        for folder in new:
            try:
                folder.rmdir()
            except OSError:
                pass
        if exc.errno == errno.EISDIR:
            raise KoptError(f"--out {out}: is a folder; give a CSV file name") from None
        raise RunFailed(f"I/O error on {out}: {exc.strerror or exc}; nothing was written") from None
    console.print(
        f"kopt predict: {len(probs)} examples from {inputs.what}, model: {source.description}"
        + (f", tta={args.tta}" if args.tta != "none" else "")
    )
    if inputs.y is not None and source.task == "regression":
        err = probs[:, 0] - inputs.y
        console.print(f"mae {float(np.abs(err).mean()):.4g}, rmse {float(np.sqrt(np.square(err).mean())):.4g}")
    elif inputs.y is not None and source.task != "multilabel":
        render_scores(classes, probs, inputs.y)
    console.print(f"[dim]written: {out}[/]")
