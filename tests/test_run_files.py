"""Files a user and their tools can read, and a terminal a person can follow: file modes under the
umask, train.log/tune.log holding the printed lines, ETAs, fold numbers, job prefixes, the leaderboard."""

from __future__ import annotations

import io
import re
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace

from conftest import TINY, only_run_dir, read_summary, run_kopt

ANSI = re.compile(r"\x1b\[")


def kopt_under_umask(*args: str, cwd: Path, umask: int = 0o022) -> subprocess.CompletedProcess:
    return run_kopt(*args, cwd=cwd, umask=umask)


def modes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*") if p.is_file()}


def test_train_files_modes_log_and_fold_numbers(tmp_path):
    proc = kopt_under_umask("train", *TINY, "split=kfold", "split.k=2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = only_run_dir(tmp_path)
    found = modes(run)
    for name in (
        "summary.json",
        "metrics.jsonl",
        "predictions.npz",
        "splits.npz",
        "model_fold0.keras",
        "train.log",
        ".hydra/config.yaml",
    ):
        assert found.get(name) == 0o644, (name, oct(found.get(name, 0)))
    assert all(mode == 0o644 for mode in found.values()), {k: oct(v) for k, v in found.items() if v != 0o644}

    log = (run / "train.log").read_text()
    assert not ANSI.search(log) and "\r" not in log, log
    lines = log.splitlines()
    assert lines[0].startswith("kopt train  model=mlp"), lines[:3]
    assert lines[1] == f"run dir: {run}", lines[:3]
    for line in [line for line in proc.stdout.splitlines() if " epoch " in line]:  # each printed epoch line is logged
        assert line.strip() in log, line
    assert "kopt train: completed" in log

    # folds are numbered from 0 on screen as in the files; each epoch line has the run's ETA
    epochs = [line for line in proc.stdout.splitlines() if re.match(r"fold \d of 2  epoch", line)]
    assert [line[:11] for line in epochs] == ["fold 0 of 2"] * 2 + ["fold 1 of 2"] * 2, proc.stdout
    assert all(re.search(r"eta \d+s$|eta \d+m\d\ds$", line) for line in epochs), epochs
    assert [f["fold"] for f in read_summary(run)["folds"]] == [0, 1]
    assert sorted(p.name for p in run.glob("model_fold*.keras")) == ["model_fold0.keras", "model_fold1.keras"]
    table_folds = [line.split()[1] for line in proc.stdout.splitlines() if re.match(r"│\s+\d\s+│", line)]
    assert table_folds == ["0", "1"], proc.stdout


def test_tune_files_modes_and_log(tmp_path):
    proc = kopt_under_umask(
        "tune",
        *TINY,
        "trainer.epochs=1",
        "search.optimizer.lr=choice(0.001,0.01)",
        "tuner.n_trials=2",
        "tuner.study_name=modes",
        "tuner.retrain_best=false",
        "tuner.plots=false",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = tmp_path / "runs" / "tune" / "modes"
    found = modes(study)
    for name in (
        "trials.csv",
        "best.yaml",
        "summary.json",
        "tune.log",
        "trials/0/summary.json",
        "trials/0/model.keras",  # (a trial scores no test set: no predictions.npz)
        "study.html",
    ):
        assert found.get(name) == 0o644, (name, oct(found.get(name, 0)))
    log = (study / "tune.log").read_text()
    assert not ANSI.search(log), log
    assert log.startswith("kopt tune  study modes (new)"), log[:300]
    assert re.search(r"^trial 0 COMPLETE val_accuracy=", log, re.M), log
    assert re.search(r"^trial 0 .*\[1/2 done, best [\d.]+ \(#\d\), eta \d+s\]$", proc.stdout, re.M), proc.stdout


def test_parallel_jobs_lines_carry_their_job_number():
    from rich.table import Table

    from kopt.console import KoptConsole

    out = io.StringIO()
    console = KoptConsole(file=out, width=80, color_system=None, highlight=False, soft_wrap=True)
    console.prefix = "[job 3] "
    table = Table("fold")
    table.add_row("0")
    console.print("[bold]epoch 1/2[/]  loss 0.5\nsecond line")
    console.print(table)
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["[job 3] epoch 1/2  loss 0.5", "[job 3] second line"], lines
    assert len(lines) > 3 and all(line.startswith("[job 3] ") for line in lines), lines


def test_leaderboard_keeps_pruned_and_failed_trials_visible():
    from rich.console import Console

    from kopt.tune.running.ui import TuneUI

    def row(number, state, value=None):
        return {"number": number, "state": state, "value": value, "duration_s": 1.0, "params": {"lr": 0.1}}

    plan = SimpleNamespace(metric="val_accuracy", direction="maximize", n_trials=9, tuner={"n_workers": 1})
    ui = TuneUI(plan, "study")
    ui.rows = [row(0, "COMPLETE", 0.5), row(1, "PRUNED"), row(2, "FAIL"), row(3, "COMPLETE", 0.7), row(4, "RUNNING")]
    out = Console(file=io.StringIO(), width=120, color_system=None)
    out.print(ui.leaderboard())
    text = out.file.getvalue()
    for state in ("PRUNED", "FAIL", "RUNNING", "COMPLETE"):
        assert state in text, text
    assert "complete 2" in text and "pruned 1" in text and "fail 1" in text, text
