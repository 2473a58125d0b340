"""`kopt tune` as a user runs it: a subprocess in a temp folder."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, TINY, assert_clean_error, kopt_env, read_summary, run_kopt, start_kopt
from test_tune_outputs import assert_optuna_and_report_read_the_study

QUICK = [*TINY, "dataset.noise=0.3"]


def read_csv(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def optuna_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The stock `optuna` command-line tool of this Python environment."""
    exe = Path(sys.executable).parent / "optuna"
    return subprocess.run([str(exe), *args], cwd=cwd, text=True, capture_output=True, timeout=120, env=kopt_env())


@pytest.mark.parametrize(
    "args, needles",
    [
        (
            ["search.model.widht=choice(8, 16)"],
            ["search.model.widht", "unknown key 'widht'", "allowed: name, width, depth"],
        ),
        (["search.optimizer.lr=interval(1e-3"], ["search.optimizer.lr", "cannot parse"]),
        (["search.regularizer.dropout=interval(0.0, 1.5)"], ["regularizer.dropout=1.5 is out of range"]),
        (["tuner=grid", "search.optimizer.lr=interval(1e-3, 1e-1)"], ["tuner=grid cannot enumerate"]),
        (["tuner=annealing", "search.model.width=choice(8, 16)"], ["tuner=annealing", "allowed: auto, bayes, cmaes"]),
        (["tuner.n_trials=0", "search.model.width=choice(8, 16)"], ["tuner.n_trials=0 is out of range"]),
        (["tuner.study_name=../escape", "search.model.width=choice(8, 16)"], ["tuner.study_name='../escape'"]),
        (
            ["pruner.percentile=150", "pruner=percentile", "search.model.width=choice(8, 16)"],
            ["pruner.percentile=150.0"],
        ),
        ([], ["search is empty", "search=cnn_digits"]),
        # the test and validation sets are chosen by seed, split and dataset: trials must share them
        (["search.seed=choice(0, 1)"], ["search.seed", "test and validation sets", "outside search"]),
        (["search.split.test_size=interval(0.1, 0.3)"], ["search.split.test_size", "test and validation sets"]),
        (["search.dataset=choice(digits, wine)", "model=mlp"], ["search.dataset", "test and validation sets"]),
        (["-m", "search.model.width=choice(8, 16)"], ["kopt tune runs one study"]),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(workdir, args, needles):
    proc = run_kopt("tune", *QUICK, *args, cwd=workdir)
    assert_clean_error(proc, *needles)
    assert not (workdir / "runs").exists()


def test_gp_without_torch_says_what_to_install(workdir):
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("PyTorch is installed here, so tuner=gp runs (see test_tune_study)")
    proc = run_kopt("tune", *QUICK, "tuner=gp", "search.model.width=choice(8, 16)", cwd=workdir)
    assert_clean_error(proc, "tuner=gp needs PyTorch", "pip install 'kopt[gp]'")
    assert not (workdir / "runs").exists()


def test_cfg_job_shows_the_tune_config_without_running(workdir):
    proc = run_kopt("tune", "--cfg", "job", "tuner=genetic", "search=cnn_digits", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert "population_size: null" in proc.stdout and "lr: tag(log, interval(1e-4, 1e-1))" in proc.stdout
    assert not (workdir / "runs").exists()


@pytest.mark.parametrize(
    "args, preset",
    [
        ([], "cnn_digits"),  # the default model is the digits CNN
        (["model=resnet"], "resnet"),
        (["search.optimizer.lr=interval(1e-3, 1e-1)"], None),  # a search given: no preset added
        (["search=cnn_digits"], None),
    ],
)
def test_without_a_search_the_models_preset_is_searched(workdir, args, preset):
    """`kopt tune tuner=bayes tuner.n_trials=50` works as written: with no search at all, the
    model's preset is searched, and the user is told which one."""
    proc = run_kopt("tune", "tuner=bayes", "tuner.n_trials=50", *args, "--cfg", "job", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    search = yaml.safe_load(proc.stdout)["search"]
    if preset is None:
        assert "no search given" not in proc.stderr
    else:
        assert f"no search given; searching search={preset}" in proc.stderr
        assert search == yaml.safe_load((ROOT / "configs" / "search" / f"{preset}.yaml").read_text())
    assert not (workdir / "runs").exists()


@pytest.mark.parametrize(
    "preset, model, params",
    [
        ("cnn_digits", "cnn", {"model.width", "model.dense", "regularizer.dropout", "optimizer.lr"}),
        ("resnet", "resnet", {"model.depth", "model.shortcut", "optimizer.lr", "optimizer.weight_decay"}),
    ],
)
def test_search_presets_compose_and_validate(workdir, preset, model, params):
    """Each preset is a valid space for its model (every key and bound checked, no trial run)."""
    from kopt.commands.tune import quote_search_overrides, validate_tune
    from kopt.compose import compose_and_validate, search_dirs
    from kopt.schemas import SCHEMAS
    from kopt.tune.planning.plan import build_plan

    if model not in SCHEMAS["model"]:
        pytest.skip(f"model={model} is not in this build's model zoo yet")
    argv = quote_search_overrides([f"search={preset}", f"model={model}"])
    line, cfgs = compose_and_validate(argv, "tune", [validate_tune])
    plan = build_plan(cfgs[0], line.overrides, search_dirs(None))
    assert {p.name for p in plan.space.params} == params


def test_grid_with_a_nan_trial_then_best_yaml_reruns_and_optuna_reads_the_study(workdir):
    args = [
        "tune",
        *QUICK,
        "optimizer=sgd",
        "tuner=grid",
        "pruner=median",
        "tuner.study_name=e2e",
        "search.optimizer.lr=choice(1e30, 1e-2)",
        "search.model.width=choice(8, 16)",
    ]
    proc = run_kopt(*args, cwd=workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    study = workdir / "runs" / "tune" / "e2e"
    rows = read_csv(study / "trials.csv")
    # the grid (2 x 2) stops exactly at its size; the NaN trials fail with their reason, the rest complete
    assert sorted(r["number"] for r in rows) == ["0", "1", "2", "3"]
    for r in rows:
        nan = float(r["params_optimizer.lr"]) == 1e30
        assert r["state"] == ("FAIL" if nan else "COMPLETE"), r
        assert ("NaN/inf loss" in r["fail_reason"]) == nan
        assert (study / r["run_dir"] / "summary.json").exists()
    summary = read_summary(study)
    assert summary["counts"] == {"COMPLETE": 2, "PRUNED": 0, "FAIL": 2, "RUNNING": 0}
    assert summary["sampler"] == "grid" and summary["pruner"] == "median" and summary["n_trials"] == 4
    best = next(r for r in rows if r["number"] == str(summary["best_trial"]))
    assert float(best["value"]) == pytest.approx(summary["best_value"])
    assert summary["best_params"]["optimizer.lr"] == 1e-2
    assert 0.0 <= summary["test_accuracy"] <= 1.0 and summary["retrain"]["run_dir"].startswith("retrain/")
    retrain = read_summary(study / summary["retrain"]["run_dir"])
    assert retrain["status"] == "completed" and retrain["choices"]["split"] == "refit"
    for name in ("optimization_history", "param_importances", "parallel_coordinate", "intermediate_values"):
        assert (study / "plots" / f"{name}.png").stat().st_size > 1000, name
    assert "trial" in proc.stdout and "e2e" in proc.stdout  # plain lines, not a live display

    # best.yaml is a primary config that `kopt train` reruns, to the same validation accuracy
    rerun = run_kopt("train", "--config-dir", str(study), "--config-name", "best", cwd=workdir)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    train_dir = next((workdir / "runs" / "train").iterdir())
    again = read_summary(train_dir)
    assert again["metrics"]["val_accuracy"] == pytest.approx(summary["best_value"], abs=1e-6)
    assert again["choices"]["optimizer"] == "sgd"

    # the stock optuna CLI reads the journal file
    listed = optuna_cli(
        "trials", "--study-name", "e2e", "--storage", str(study / "journal.log"), "-f", "json", cwd=workdir
    )
    assert listed.returncode == 0, listed.stderr
    trials = json.loads(listed.stdout)
    assert sorted(t["state"] for t in trials) == ["COMPLETE", "COMPLETE", "FAIL", "FAIL"]
    assert_optuna_and_report_read_the_study(study, "e2e", workdir)  # optuna studies, trial attrs, steps, report

    # rerunning the finished study runs nothing again
    mtime = (study / "trials" / "0" / "summary.json").stat().st_mtime
    proc = run_kopt(*args, cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert len(read_csv(study / "trials.csv")) == 4
    assert (study / "trials" / "0" / "summary.json").stat().st_mtime == mtime


def test_sqlite_storage_url(workdir):
    proc = run_kopt(
        "tune",
        *QUICK,
        "tuner=random",
        "tuner.n_trials=2",
        "trainer.epochs=1",
        "tuner.study_name=sq",
        "pruner=none",
        "tuner.retrain_best=false",
        "tuner.plots=false",
        "tuner.storage=sqlite:///studies.db",
        "search.model.width=choice(8, 16)",
        cwd=workdir,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (workdir / "studies.db").exists() and not (workdir / "runs" / "tune" / "sq" / "journal.log").exists()
    listed = optuna_cli("trials", "--study-name", "sq", "--storage", "sqlite:///studies.db", "-f", "json", cwd=workdir)
    assert [t["state"] for t in json.loads(listed.stdout)] == ["COMPLETE", "COMPLETE"]
    changed = run_kopt(
        "tune",
        *QUICK,
        "tuner=random",
        "tuner.n_trials=3",
        "trainer.epochs=1",
        "tuner.study_name=sq",
        "tuner.storage=sqlite:///studies.db",
        "search.model.width=choice(8, 32)",
        cwd=workdir,
    )
    assert_clean_error(changed, "tuner.study_name=sq exists with a different setup", "search.model.width")


def test_sigkill_mid_trial_then_rerun_resumes(workdir):
    args = [
        "tune",
        *TINY,
        # trial 1 must still be training when it is killed: 11 epochs (~15-30 ms each) after the first, then
        # its test set and model.keras, against a poll every 10 ms (30 epochs cost each trial ~0.5 s more)
        "trainer.epochs=12",
        "tuner=random",
        "tuner.n_trials=3",
        "tuner.study_name=crash",
        "pruner=none",
        "tuner.retrain_best=false",
        "tuner.plots=false",
        "search.model.width=choice(8, 16, 32)",
        "search.optimizer.lr=tag(log, interval(1e-3, 1e-2))",
    ]
    study = workdir / "runs" / "tune" / "crash"
    proc = start_kopt(*args, cwd=workdir)  # forked from the preloaded server where it can be
    try:
        deadline = time.time() + 300
        while not (study / "trials" / "1" / "metrics.jsonl").exists():  # trial 0 done, trial 1 training
            assert proc.poll() is None and time.time() < deadline, "kopt tune ended before trial 1 started"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    done_before = json.loads((study / "trials" / "0" / "summary.json").read_text())
    assert done_before["status"] == "completed"

    rerun = run_kopt(*args, cwd=workdir)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "trial 1 left running by a dead process" in rerun.stdout
    rows = {int(r["number"]): r for r in read_csv(study / "trials.csv")}
    assert rows[0]["state"] == "COMPLETE"  # kept, not re-run
    assert json.loads((study / "trials" / "0" / "summary.json").read_text()) == done_before
    assert rows[1]["state"] == "FAIL" and rows[1]["fail_reason"].startswith("interrupted")
    assert json.loads((study / "trials" / "1" / "summary.json").read_text())["status"] == "interrupted"
    retry = [r for r in rows.values() if r["retry_of"] == "1"]
    assert len(retry) == 1 and retry[0]["state"] == "COMPLETE"
    assert (retry[0]["params_model.width"], retry[0]["params_optimizer.lr"]) == (
        rows[1]["params_model.width"],
        rows[1]["params_optimizer.lr"],
    )
    assert sum(r["state"] in ("COMPLETE", "PRUNED") for r in rows.values()) == 3
    assert read_summary(study)["counts"] == {"COMPLETE": 3, "PRUNED": 0, "FAIL": 1, "RUNNING": 0}


def assert_no_start_up_lines(proc: subprocess.CompletedProcess, study: Path) -> None:
    """No TensorFlow C++ start-up line (oneDNN, CUDA drivers) in the output nor in the workers' logs."""
    logs = "".join(p.read_text() for p in study.glob("workers/*.log"))
    for text in (proc.stdout, proc.stderr, logs):
        assert not re.search(r"oneDNN|cudart|cuda drivers|^[IWE]\d{4} ", text, re.M), text[:2000]


# TF_CPP_MIN_LOG_LEVEL unset, as in a user's shell. (Popped from kopt_env() it came back: run_kopt lays env over
# kopt_env(), which sets it; a test process that imported TensorFlow even had it at 1, and its run was then forked.)
# A changed environment makes run_kopt start a fresh process: TensorFlow's start-up lines come at its import.
UNSET_TF_LOG_LEVEL = {"TF_CPP_MIN_LOG_LEVEL": None}


def test_two_workers_share_the_study(workdir):
    """Also test_tensorflow_start_up_lines_stay_out_of_the_output's worker case: the study runs in a fresh
    process with TF_CPP_MIN_LOG_LEVEL unset; its workers import TensorFlow, and so does its parent, for
    the retrain, with stderr held."""
    proc = run_kopt(
        "tune",
        *QUICK,
        "tuner=random",
        "tuner.n_trials=4",
        "tuner.n_workers=2",
        "trainer.epochs=1",
        "tuner.study_name=par",
        "pruner=none",
        "tuner.plots=false",
        "search.model.width=int(interval(8, 32))",
        "search.optimizer.lr=tag(log, interval(1e-3, 1e-1))",
        cwd=workdir,
        env=UNSET_TF_LOG_LEVEL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    study = workdir / "runs" / "tune" / "par"
    assert read_summary(study)["retrain"]["run_dir"].startswith("retrain/")  # the parent trained too
    assert_no_start_up_lines(proc, study)
    summary = read_summary(study)
    assert summary["counts"] == {"COMPLETE": 4, "PRUNED": 0, "FAIL": 0, "RUNNING": 0}  # exactly n_trials

    import optuna

    from kopt.tune.store.storage import open_storage

    trials = optuna.load_study(study_name="par", storage=open_storage(str(study / "journal.log"))).trials
    pids = {t.user_attrs["worker"]["pid"] for t in trials}
    assert len(pids) == 2, pids  # both workers ran trials
    assert len({(t.params["model.width"], t.params["optimizer.lr"]) for t in trials}) == 4  # no repeated draws
    assert {p.name for p in (study / "workers").iterdir()} == {
        "0.log",
        "1.log",
        "0.timeline",
        "1.timeline",
        "parent.timeline",
    }
    from kopt.tune.running.timeline import read_timeline

    # each worker's timeline: start-up, then one line per trial it ran, then the claim that found none left
    lines = {i: read_timeline(study / "workers" / f"{i}.timeline") for i in (0, 1)}
    for events in lines.values():
        names = [e["event"] for e in events]
        assert names[:3] == ["start", "joined", "tensorflow"] and names[-2:] == ["done", "exit"], names
        assert set(names[3:-2]) == {"trial"}
        assert [e["t"] for e in events] == sorted(e["t"] for e in events)
        assert all(e["run_s"] > 0 and e["wait_s"] >= 0 and e["held_s"] > 0 for e in events if e["event"] == "trial")
    ran = sorted(e["trial"] for events in lines.values() for e in events if e["event"] == "trial")
    assert ran == [0, 1, 2, 3]
    parent = read_timeline(study / "workers" / "parent.timeline")
    assert [e["event"] for e in parent] == ["begin", "spawn", "spawn", "watch"]
    # each worker in a session of its own (Linux's autogroup scheduling shares the CPU between sessions
    # first: two workers in kopt tune's session got one core of two beside one busy process of another)
    from kopt.tune.running.workers import gpu_assignment, threads_per_worker, visible_gpus

    spawned = {e["worker"]: e["pid"] for e in parent if e["event"] == "spawn"}
    gpus = gpu_assignment(visible_gpus(), 2)
    for i, events in lines.items():
        start = events[0]
        assert start["pid"] == spawned[i] == start["sid"] != parent[0]["sid"], (start, parent)
        assert start["threads"] == threads_per_worker(2) and start["gpu"] == gpus[i]  # its share, its device


def test_postgresql_storage_with_two_workers(workdir, pg_url):
    proc = run_kopt(
        "tune",
        *QUICK,
        "tuner=random",
        "tuner.n_trials=3",
        "tuner.n_workers=2",
        "trainer.epochs=1",
        "tuner.study_name=pg",
        "pruner=none",
        "tuner.retrain_best=false",
        "tuner.plots=false",
        f"tuner.storage={pg_url}",
        "search.model.width=int(interval(8, 32))",
        cwd=workdir,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import optuna

    trials = optuna.load_study(study_name="pg", storage=pg_url).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3  # exactly n_trials, none beyond
    assert read_summary(workdir / "runs" / "tune" / "pg")["storage"] == pg_url
    logs = "".join(p.read_text() for p in (workdir / "runs" / "tune" / "pg" / "workers").glob("*.log"))
    assert "Heartbeat of storage" not in proc.stderr + logs  # Optuna's warning for ask() without optimize()


def test_sigterm_marks_the_running_trial_failed_interrupted(workdir):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    args = [
        "tune",
        *TINY,
        "trainer.epochs=200",
        "tuner=random",
        "tuner.n_trials=2",
        "tuner.study_name=term",
        "pruner=none",
        "tuner.retrain_best=false",
        "tuner.plots=false",
        "search.model.width=choice(8, 16)",
    ]
    study_dir = workdir / "runs" / "tune" / "term"
    proc = start_kopt(*args, cwd=workdir)  # forked from the preloaded server where it can be
    deadline = time.time() + 300
    while not (study_dir / "trials" / "0" / "metrics.jsonl").exists():
        assert proc.poll() is None and time.time() < deadline, "kopt tune ended before trial 0 trained"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    storage = JournalStorage(JournalFileBackend(str(study_dir / "journal.log")))
    (trial,) = optuna.load_study(study_name="term", storage=storage).trials
    assert trial.state.name == "FAIL" and trial.user_attrs["fail_reason"].startswith("interrupted")
    assert json.loads((study_dir / "trials" / "0" / "summary.json").read_text())["status"] == "interrupted"


def test_tensorflow_start_up_lines_stay_out_of_the_output(workdir):
    """TensorFlow's C++ start-up lines (oneDNN, CUDA drivers) ignore TF_CPP_MIN_LOG_LEVEL in
    recent releases; kopt imports TensorFlow with stderr held, in the study and in its workers
    (the workers' case: test_two_workers_share_the_study, a study of its own in a fresh process)."""
    proc = run_kopt(
        "tune",
        *QUICK,
        "tuner.n_trials=1",
        "trainer.epochs=1",
        "tuner.study_name=quiet",
        "tuner.retrain_best=false",
        "tuner.plots=false",
        "search.model.width=choice(8, 16)",
        cwd=workdir,
        env=UNSET_TF_LOG_LEVEL,
    )
    assert proc.returncode == 0, proc.stderr
    assert "trial 0 COMPLETE" in proc.stdout, proc.stdout  # TensorFlow loaded and trained
    assert_no_start_up_lines(proc, workdir / "runs" / "tune" / "quiet")
