"""Issue 30, items 2-4: a tune trial never scores the test set (summary.json, predictions.npz,
trials.csv, kopt report, MLflow), only the retrain and `kopt ensemble --study` do; the models of the
top ``tuner.keep_models`` trials only are kept; curves.png is drawn once, when the study ends; the study writes study.html. One tiny 3-trial study (a grid: deterministic) serves every test."""

from __future__ import annotations

import csv
import json
import re
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY, assert_clean_error, read_summary, run_kopt

LRS = (1e-2, 3e-2, 1e-1)
TEST_KEYS = re.compile(r"test_(accuracy|loss)")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    pytest.importorskip("mlflow", reason="logger=mlflow needs the mlflow extra")
    cwd = tmp_path_factory.mktemp("lean")
    store = (cwd / "store").as_uri()
    proc = run_kopt(
        "tune",
        *TINY,
        "trainer.epochs=1",  # (what is checked is where test scores and models go, not the training)
        "tuner=grid",
        "pruner=none",
        "tuner.study_name=lean",
        "tuner.keep_models=2",
        "tuner.plots=false",
        f"search.optimizer.lr=choice({', '.join(map(str, LRS))})",
        "logger=mlflow",
        f"logger.tracking_uri={store}",
        "logger.experiment=lean",
        cwd=cwd,
        env={"MLFLOW_ALLOW_FILE_STORE": "true"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return cwd, cwd / "runs" / "tune" / "lean", store


def trial_dirs(study_dir: Path) -> list[Path]:
    return sorted((study_dir / "trials").iterdir(), key=lambda p: int(p.name))


def test_no_trial_holds_a_test_score_and_the_retrain_does(study):
    _, study_dir, _ = study
    dirs = trial_dirs(study_dir)
    assert [d.name for d in dirs] == ["0", "1", "2"]
    for run_dir in dirs:
        summary = read_summary(run_dir)
        assert summary["status"] == "completed"
        assert 0.0 <= summary["metrics"]["val_accuracy"] <= 1.0
        scored = [k for k in json.dumps(summary).split('"') if TEST_KEYS.search(k)]
        assert scored == [], run_dir
        assert not (run_dir / "predictions.npz").exists()
    with open(study_dir / "trials.csv") as f:
        header = next(csv.reader(f))
    assert [c for c in header if "test" in c] == []
    top = json.loads((study_dir / "summary.json").read_text())
    retrain = read_summary(study_dir / top["retrain"]["run_dir"])
    assert 0.0 <= retrain["metrics"]["test_accuracy"] <= 1.0
    assert top["test_accuracy"] == retrain["metrics"]["test_accuracy"]  # the study's one test score
    assert (study_dir / top["retrain"]["run_dir"] / "predictions.npz").is_file()


def test_kopt_report_shows_no_trial_test_score(study):
    cwd, study_dir, _ = study
    out = cwd / "report.csv"
    proc = run_kopt("report", str(study_dir / "trials"), "--csv", str(out), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 3
    for row in rows:
        assert {k: v for k, v in row.items() if "test" in k and v not in ("", None)} == {}
        assert 0.0 <= float(row["val_accuracy"]) <= 1.0


def test_no_mlflow_trial_run_logs_a_test_score(study, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    _, _, store = study
    client = MlflowClient(tracking_uri=store)
    runs = client.search_runs([client.get_experiment_by_name("lean").experiment_id])
    roles = {}
    for run in runs:
        roles.setdefault(run.data.tags.get("kopt.role"), []).append(run)
    assert len(roles["trial"]) == 3
    for run in roles["trial"]:
        assert [k for k in run.data.metrics if "test" in k] == []
        assert 0.0 <= run.data.metrics["final/val_accuracy"] <= 1.0
    (retrain,) = roles["retrain"]
    assert 0.0 <= retrain.data.metrics["final/test_accuracy"] <= 1.0


def test_only_the_top_keep_models_trials_keep_their_model(study):
    _, study_dir, _ = study
    values = {int(d.name): read_summary(d)["metrics"]["val_accuracy"] for d in trial_dirs(study_dir)}
    kept = sorted(values, key=lambda n: (-values[n], n))[:2]
    assert sorted(int(d.name) for d in trial_dirs(study_dir) if (d / "model.keras").is_file()) == sorted(kept)
    assert json.loads((study_dir / "summary.json").read_text())["kept_models"] == kept


def test_kopt_ensemble_study_scores_the_test_set_once_from_the_kept_models(study):
    cwd, study_dir, _ = study
    proc = run_kopt("ensemble", "--study", str(study_dir), "--top", "2", "--out", str(cwd / "ens"), cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((cwd / "ens" / "ensemble.json").read_text())
    kept = json.loads((study_dir / "summary.json").read_text())["kept_models"]
    assert [m["name"] for m in report["members"]] == [f"trial{n}" for n in kept]  # best validation first
    assert 0.0 <= report["ensemble"]["accuracy"] <= 1.0 and report["n_test"] == 40  # 200 examples, 20% test
    for m in report["members"]:
        assert 0.0 <= m["accuracy"] <= 1.0
    for run_dir in trial_dirs(study_dir):  # scored here, not written back into the trials
        assert not (run_dir / "predictions.npz").exists()
        assert "test_accuracy" not in read_summary(run_dir)["metrics"]
    assert_clean_error(
        run_kopt("ensemble", "--study", str(study_dir), "--top", "3", cwd=cwd), "--top 3", "tuner.keep_models=2"
    )


def test_curves_are_drawn_once_when_the_study_ends(study):
    _, study_dir, _ = study
    dirs = trial_dirs(study_dir)
    last_end = max(datetime.fromisoformat(read_summary(d)["finished_at"]).timestamp() for d in dirs)
    for run_dir in dirs:
        png = run_dir / "curves.png"
        assert png.is_file() and png.stat().st_size > 1000
        assert png.stat().st_mtime >= last_end, f"{png} was drawn inside its trial"


def test_the_study_writes_study_html_listing_every_trial(study):
    _, study_dir, _ = study
    page = (study_dir / "study.html").read_text()
    assert "Study lean: 3 trial(s)" in page
    board = page[page.index('<table class="board">') :].split("</table>")[0]
    rows = re.findall(r'<tr[^>]*><td class="num" data-v="(\d+)"', board)  # the trial column
    assert rows == ["0", "1", "2"] and board.count("state-complete") == 3


def test_keep_models_out_of_range_is_one_line(tmp_path):
    assert_clean_error(run_kopt("tune", *TINY, "tuner.keep_models=-1", cwd=tmp_path), "tuner.keep_models=-1")
    assert not (tmp_path / "runs").exists()


def test_study_html_refreshes_at_most_every_30_s_and_never_two_at_once(tmp_path, monkeypatch):
    import sys

    from kopt.tune.results import page as study_page

    page = study_page.StudyPage(tmp_path)
    assert page.command()[-4:] == ["report", str(tmp_path), "--html", str(tmp_path / "study.html")]
    monkeypatch.setattr(page, "command", lambda: [sys.executable, "-c", "import time; time.sleep(1)"])
    assert page.refresh() is False and page.proc is None  # the study started less than 30 s ago
    page.started -= study_page.INTERVAL_S
    assert page.refresh() is True
    assert page.refresh() is False  # one runs, and 30 s have not passed
    monkeypatch.setattr(study_page, "INTERVAL_S", 0.0)
    assert page.refresh() is False  # never two at once
    page.proc.wait()
    assert page.refresh() is True
    page.write()  # stops the running one, then writes the page itself
    assert page.proc.returncode is not None and not page.busy()


def test_the_final_study_html_does_not_wait_for_a_background_refresh(tmp_path, monkeypatch):
    """The background refresh runs at the lowest priority: on a busy machine it may get no CPU
    time for minutes (a 12-trial study waited 230 s for it after its last trial)."""
    import sys

    from kopt.tune.results import page as study_page

    page = study_page.StudyPage(tmp_path)
    monkeypatch.setattr(page, "command", lambda: [sys.executable, "-c", "import time; time.sleep(40)"])
    page.started -= study_page.INTERVAL_S  # a study past its first 30 s
    assert page.refresh() is True
    monkeypatch.setattr(study_page, "write_study_html", lambda study_dir, out: None)
    (tmp_path / ".study.html.x1.tmp").write_text("a page cut short")  # what a killed refresh leaves
    started = time.monotonic()
    page.write()
    assert time.monotonic() - started < 20 and not page.busy()
    assert not list(tmp_path.glob(".study.html.*"))


def test_a_study_shorter_than_the_refresh_interval_starts_no_refresh_process(tmp_path, monkeypatch):
    """Its page is written once, at its end: a background refresh (about 3 CPU s, a process that
    imports Optuna and Matplotlib) would be overwritten moments later."""
    from kopt.tune.results import page as study_page

    page = study_page.StudyPage(tmp_path)
    monkeypatch.setattr(page, "_start", lambda: pytest.fail("a process was started"))
    assert [page.refresh() for _ in range(3)] == [False] * 3  # after each of the first trials
    monkeypatch.setattr(study_page.time, "monotonic", lambda: page.started + study_page.INTERVAL_S)
    monkeypatch.setattr(page, "_start", lambda: "started")
    assert page.refresh() is True and page.proc == "started"  # 30 s into the study


def test_the_final_study_html_is_written_in_the_study_process(tmp_path, monkeypatch):
    """A new process would load Python, Optuna and matplotlib again (seconds: 1.3 s per trial of
    a 6-trial study in benchmarks/trial_breakdown.py)."""
    from kopt.tune.results import page as study_page

    page = study_page.StudyPage(tmp_path)
    monkeypatch.setattr(page, "_start", lambda: pytest.fail("a process was started"))
    written = []
    monkeypatch.setattr(study_page, "write_study_html", lambda study_dir, out: written.append((study_dir, out)))
    page.write()
    assert written == [(tmp_path, tmp_path / "study.html")]


def test_a_trial_saves_its_model_only_where_it_can_enter_the_kept_top(tmp_path):
    """kopt.tune.trials.keep on an in-memory study: the top keep_models by validation, ties to the earlier
    trial; a k-fold trial saves (its value is a mean of folds to come) and is pruned after."""
    import optuna

    from kopt.tune.trials.keep import keep_model_for, kept_trials, prune_models

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    for value in (0.5, 0.9, 0.7, 0.9):
        study.add_trial(optuna.trial.create_trial(value=value, params={}, distributions={}))
    tuner = {"keep_models": 2}
    assert kept_trials(study, tuner) == [1, 3]  # 0.9 (trial 1), 0.9 (trial 3): the tie keeps both
    keep = keep_model_for(study, tuner, "val_accuracy")
    assert keep({"val_accuracy": 0.95}, 1) is True
    assert keep({"val_accuracy": 0.9}, 1) is False  # a tie loses to the earlier trials
    assert keep({"val_accuracy": 0.1}, 3) is True  # a fold of a 3-fold trial: decided when it ends
    assert keep_model_for(study, {"keep_models": 0}, "val_accuracy")({"val_accuracy": 1.0}, 1) is False
    assert keep_model_for(study, {"keep_models": 5}, "val_accuracy")({"val_accuracy": 0.0}, 1) is True
    for number in range(4):
        (tmp_path / "trials" / str(number)).mkdir(parents=True)
        (tmp_path / "trials" / str(number) / "model.keras").write_text("m")
    (tmp_path / "trials" / "2" / "model_fold1.keras").write_text("m")
    assert prune_models(study, tuner, tmp_path) == [1, 3]
    assert sorted(p.parent.name for p in tmp_path.glob("trials/*/*.keras")) == ["1", "3"]


def test_kopt_predict_of_a_trial_whose_model_was_not_kept_says_so(study):
    cwd, study_dir, _ = study
    kept = json.loads((study_dir / "summary.json").read_text())["kept_models"]
    (dropped,) = {0, 1, 2} - set(kept)
    np.save(cwd / "x.npy", np.zeros((2, 8), "float32"))
    proc = run_kopt("predict", str(study_dir), str(cwd / "x.npy"), "--trial", str(dropped), cwd=cwd)
    assert_clean_error(proc, f"--trial {dropped}: its model was not kept", "tuner.keep_models=2")
    assert f"allowed: {', '.join(str(n) for n in sorted(kept))}" in proc.stderr


def test_pruning_the_models_looks_at_each_dropped_trial_once_not_at_every_trial(tmp_path, monkeypatch):
    """Issue 30 item 8 (benchmarks/study_growth.py): after every trial the study deleted the models of
    the trials outside the top by looking at every completed trial's run dir, two directory scans
    each: ~0.4 s per trial on a 1,000-trial study. A trial outside the top never enters it again, so
    a later call looks only at the trials that finished or fell out of the top since; a trial pushed
    out by a better one still loses its model."""
    import optuna

    from kopt.tune.trials import keep

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    tuner = {"keep_models": 2}

    def add(value: float) -> int:
        study.add_trial(optuna.trial.create_trial(value=value, params={}, distributions={}))
        number = len(study.trials) - 1
        (tmp_path / "trials" / str(number)).mkdir(parents=True)
        (tmp_path / "trials" / str(number) / "model.keras").write_text("m")
        return number

    for i in range(50):
        add(0.5 + i / 1000)  # trials 48 and 49 are the top two
    looked: list[int] = []
    real = keep.trial_run_dir
    monkeypatch.setattr(keep, "trial_run_dir", lambda d, n: looked.append(n) or real(d, n))
    assert keep.prune_models(study, tuner, tmp_path) == [49, 48]
    assert len(looked) == 48  # the first call: every trial outside the top
    assert sorted(int(p.parent.name) for p in tmp_path.glob("trials/*/model.keras")) == [48, 49]

    looked.clear()
    add(0.1)  # trial 50: outside the top
    assert keep.prune_models(study, tuner, tmp_path) == [49, 48]
    assert looked == [50]  # before: all 49 trials outside the top again

    looked.clear()
    add(0.99)  # trial 51 enters the top: trial 48 falls out and loses its model
    assert keep.prune_models(study, tuner, tmp_path) == [51, 49]
    assert looked == [48]
    assert sorted(int(p.parent.name) for p in tmp_path.glob("trials/*/model.keras")) == [49, 51]
