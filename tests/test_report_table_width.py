"""Issue 29, item 4: ``kopt report``'s table fits the terminal (COLUMNS), values rounded to 4
significant digits, the best run marked, keys equal in every listed run printed once above the
table, a study's retrain showing the parameters it used; ``--wide`` shows every column."""

from __future__ import annotations

import io
import re

import pytest
import yaml
from conftest import run_kopt
from test_report import fake_run

NUMBER = re.compile(r"\d+\.\d+(?:e-?\d+)?")


def long_floats(text: str) -> list[str]:
    """Numbers in ``text`` with more than 4 significant digits."""
    return [n for n in NUMBER.findall(text) if len(n.split("e")[0].replace(".", "").lstrip("0")) > 4]


PARAMS = {
    "regularizer.dropout": [0.2744067519636624, 0.32294705653332806, 0.46223466127272034, 0.1183520152210345],
    "regularizer.l2": [0.0001398196140899405, 2.054762512591135e-05, 8.184362148565696e-06, 3.3e-4],
    "optimizer.lr": [0.006431172050131994, 0.04734989304499478, 0.0013212393743303311, 0.0123456789],
    "optimizer.momentum": [0.912345678, 0.823456789, 0.734567891, 0.645678912],
}
VAL = [0.1875, 0.84375, 0.125, 0.5]  # trial 1 is the best


def config(i: int) -> str:
    node: dict = {"seed": 0, "trainer": {"epochs": 2}, "dataset": {"name": "synthetic"}}
    for key, values in PARAMS.items():
        group, name = key.split(".")
        node.setdefault(group, {})[name] = values[i]
    return yaml.safe_dump(node)


@pytest.fixture
def study(tmp_path):
    study = tmp_path / "runs" / "tune" / "s"
    choices = {"model": "mlp", "dataset": "synthetic"}
    for i, val in enumerate(VAL):
        run = fake_run(
            study / "trials" / str(i),
            overrides=[f"{k}={v[i]!r}" for k, v in PARAMS.items()],
            choices={**choices, "split": "holdout"},
            metrics={"val_accuracy": val, "val_loss": 2.2431 - val, "test_accuracy": val - 0.01, "test_loss": 2.3},
        )
        (run / ".hydra" / "config.yaml").write_text(config(i))
    retrain = fake_run(
        study / "retrain" / "1",
        overrides=["trainer.epochs=2"],
        choices={**choices, "split": "refit"},
        metrics={"test_accuracy": 0.8, "test_loss": 0.6225},
    )
    (retrain / ".hydra" / "config.yaml").write_text(config(1))
    return study


def lines_of(proc) -> list[str]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.splitlines()


def test_the_table_of_a_study_fits_100_columns_rounded_best_marked_constants_once(study, tmp_path):
    proc = run_kopt("report", str(study), cwd=tmp_path, env={"COLUMNS": "100"})
    lines = lines_of(proc)
    assert max(len(line) for line in lines) <= 100, "\n".join(lines)
    assert not long_floats(proc.stdout), proc.stdout
    # the best trial (val_accuracy 0.8438) is the one row marked
    marked = [line for line in lines if "★" in line and ("trials/" in line or "retrain/" in line)]
    assert len(marked) == 1 and "trials/1" in marked[0], "\n".join(lines)
    assert "0.8438" in marked[0]
    # keys equal in every run: once, above the table, not a column of '-'
    for pair in ("trainer.epochs=2", "dataset=synthetic", "model=mlp", "seed=0"):
        assert proc.stdout.count(pair) == 1, (pair, proc.stdout)
    table_start = next(i for i, line in enumerate(lines) if "┏" in line)
    assert any("trainer.epochs=2" in line for line in lines[:table_start])
    # the retrain row shows the parameters it used (trial 1's), rounded
    (retrain,) = [line for line in lines if "retrain/1" in line]
    assert "0.3229" in retrain and "refit" in retrain, retrain
    (trial0,) = [line for line in lines if "trials/0" in line]
    assert "0.2744" in trial0 and "0.1875" in trial0
    assert "--wide" in proc.stdout  # what was left out to fit, and how to see it


def test_wide_shows_every_column(study, tmp_path):
    proc = run_kopt("report", str(study), "--wide", cwd=tmp_path, env={"COLUMNS": "100"})
    lines = lines_of(proc)
    header = "\n".join(lines[: next(i for i, line in enumerate(lines) if "┡" in line)])
    for column in ("val_acc", "val_loss", "test_acc", "test_loss", "params", "time", "optimizer.", "momentum"):
        assert column in header, header
    assert max(len(line) for line in lines) > 100
    assert not long_floats(proc.stdout)


@pytest.mark.parametrize("width", [80, 60])
def test_a_narrow_terminal_never_cuts_a_number_of_the_train_table(width, monkeypatch):
    """kopt train's table of a regression over 3 folds (8 columns) in an 80-column terminal: its labels and
    headers wrap, its "x ± y" cells break at their spaces, and every number stays whole (rich had cut them
    to "8.30…"). In 60 columns, too few for the numbers, every column is still there (shortened)."""
    from rich.console import Console

    import kopt.console
    from kopt.console import fmt, train_table

    console = Console(width=width, record=True, file=io.StringIO())
    monkeypatch.setattr(kopt.console, "console", console)

    keys = ["val_loss", "val_mae", "val_rmse", "test_loss", "test_mae", "test_rmse"]
    folds = [
        {"fold": i, "best_epoch": 20, **{k: 10.0 * i + j + 0.123456 for j, k in enumerate(keys)}} for i in range(3)
    ]
    summary = {
        "status": "completed",
        "folds": folds,
        "metrics": {**{k: 12.345678 for k in keys}, **{f"{k}_std": 1.2345678 for k in keys}},
        "folds_averaged": {k: 11.111111 for k in keys if k.startswith("test_")},
        "params": 225,
        "duration_s": 3.1,
        "run_dir": "runs/train/x",
    }
    console.print(train_table(summary))
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    grid = [line for line in lines if line.strip().startswith(("┃", "│"))]
    assert all(line.count("┃") + line.count("│") == 9 for line in grid), text  # 8 columns on every line
    if width < 80:
        return
    numbers = set(NUMBER.findall(text))
    expected = {fmt(f[k]) for f in folds for k in keys} | {fmt(12.345678), fmt(1.2345678), fmt(11.111111)}
    assert expected <= numbers, sorted(expected - numbers)
    assert "…" not in text


@pytest.mark.parametrize("width", [80, 60])
def test_kopt_models_table_never_cuts_a_number_in_a_narrow_terminal(width):
    """`kopt models` in an 80-column terminal cut the widest presets' numbers ("36,497,1…", "10.5…",
    "1.57 M…") and names ("densenet_bc1…"): the names fold onto a second line now, every number whole."""
    from rich.console import Console

    from kopt.commands.models import _bytes, _si, table

    def row(name, model, depth, params, flops, weights):
        return {"name": name, "family": name, "model": model, "depth": depth, "params": params,
                "flops": flops, "weights_bytes": weights, "input_shape": [32, 32, 3], "classes": 10}  # fmt: skip

    rows = [
        row("mlp", "mlp_2x128", 3, 411_914, 822_000, 1_647_656),
        row("densenet_bc100", "densenet_BC100_k12", 100, 793_150, 576_000_000, 3_172_600),
        row("wrn_28_10", "wrn_28_10", 28, 36_497_146, 10_500_000_000, 145_988_584),
        row("keras_app", "keras_app_mobilenetv3small_minimalistic", 54, 944_902, 3_170_000, 3_779_608),
        {**row("resnet", "", None, None, None, None), "error": "needs an image input; got 64 features; more"},
    ]
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(table(rows))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= width, text
    assert "…" not in text, text
    for r in rows[:-1]:
        for cell in (f"{r['params']:,}", _si(r["flops"]), _bytes(r["weights_bytes"])):
            assert re.search(rf"(?<![\d,.]){re.escape(cell)}(?![\d,.])", text), (cell, text)
    words = text.split()
    assert all(word in words for word in ["needs", "an", "image", "input"]), text  # an error row wraps


@pytest.mark.parametrize("width", [80, 60])
def test_kopt_compares_table_never_cuts_a_test_name_or_a_number(width, monkeypatch):
    """At 80 columns `kopt compare` cut "corrected_resampled_t" (the test its verdict line names) to
    "corrected_resamp…": its verdicts wrap now, the names and numbers stay whole; at 60 a name folds."""
    from rich.console import Console

    import kopt.console
    from kopt.comparison import _num, render

    console = Console(width=width, record=True, file=io.StringIO())
    monkeypatch.setattr(kopt.console, "console", console)
    verdict = "no significant difference"
    names = [("paired_t", "folds", 2), ("corrected_resampled_t", "folds", 2), ("mcnemar_exact", "test set", None)]
    tests = [
        {"name": n, "data": d, "statistic": -1.94151 * (i + 1), "df": df, "p_value": 0.191734 + i / 10,
         "verdict": verdict, "significant": False}
        for i, (n, d, df) in enumerate(names)
    ]  # fmt: skip
    difference = {"value": -0.05, "ci_level": 0.95, "ci_low": -0.26, "ci_high": 0.15}
    result = {
        "alpha": 0.05, "metric": "val_accuracy", "split": "kfold", "n_folds": 3, "tests": tests, "skipped": [],
        "a": {"run_dir": "runs/a"}, "b": {"run_dir": "runs/b"}, "mean_difference": difference,
        "mean_a": 0.1, "mean_b": 0.15, "primary_test": "corrected_resampled_t", "winner": None, "ahead": "b",
        "test_set": {"a": 0.16, "b": 0.23, "difference": -0.07, "ci_level": 0.95, "ci_low": -0.2, "ci_high": 0.06,
                     "score": "accuracy"},
    }  # fmt: skip
    render(result)
    text = console.export_text()
    table = text.split("folds: per-fold")[0]
    assert max(len(line) for line in table.splitlines()) <= width, text
    assert "…" not in table, text
    for t in tests:
        for number in (_num(t["statistic"]), _num(t["p_value"])):
            assert re.search(rf"(?<![\d.]){re.escape(number)}(?![\d.])", table), (number, text)
    names_in_table = [line.split("│")[1].strip() for line in table.splitlines() if line.startswith("│")]
    if width >= 80:
        assert {t["name"] for t in tests} <= set(names_in_table), text
    else:  # folded: each name's pieces, in order, down its cell
        assert "".join(names_in_table) == "".join(t["name"] for t in tests), text
