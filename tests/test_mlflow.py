"""`logger=mlflow` with a study: one parent run, one nested run per trial, the best model in MLflow's
Keras flavour, no null value logged as 'None'. A local file store under tmp_path; skipped without mlflow."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from conftest import TINY, read_summary, run_kopt

sys.path.insert(0, str(Path(__file__).parent / "faults"))


def keras_models(client, run) -> dict[str, bool]:
    """{name: has the keras flavour} of the MLflow models logged from ``run``."""
    found = client.search_logged_models([run.info.experiment_id])
    out = {}
    for model in found:
        if model.source_run_id == run.info.run_id:
            mlmodel = Path(urlparse(model.artifact_location).path) / "MLmodel"
            out[model.name] = "keras" in yaml.safe_load(mlmodel.read_text())["flavors"]
    return out


def test_a_study_is_a_parent_run_with_nested_trials_and_its_best_model(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="logger=mlflow needs the mlflow extra")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # for this test's own client
    from mlflow.tracking import MlflowClient

    store = (tmp_path / "store").as_uri()
    proc = run_kopt(
        "tune",
        *TINY,
        "tuner=grid",
        "pruner=none",
        "tuner.study_name=ml",
        "tuner.retrain_best=false",
        "tuner.plots=false",
        "search.optimizer.lr=choice(1e-2, 3e-2)",
        "logger=mlflow",
        f"logger.tracking_uri={store}",
        "logger.experiment=tune",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = read_summary(tmp_path / "runs" / "tune" / "ml")
    client = MlflowClient(tracking_uri=store)
    runs = client.search_runs([client.get_experiment_by_name("tune").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("kopt.role") == "study"]
    children = [r for r in runs if r is not parent]
    assert parent.info.status == "FINISHED" and parent.data.tags["kopt.study"] == "ml"
    assert sorted(r.data.tags["kopt.trial"] for r in children) == ["0", "1"]
    for run in children:
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id and run.data.tags["kopt.study"] == "ml"
        assert run.info.status == "FINISHED" and not keras_models(client, run)  # only the study logs a model
    assert parent.data.tags["kopt.best_trial"] == str(summary["best_trial"])
    assert parent.data.metrics["best/val_accuracy"] == pytest.approx(summary["best_value"])
    assert keras_models(client, parent) == {"model": True}
    for run in runs:  # null config values (e.g. optimizer.clipnorm) are left out, never 'None'
        assert not [k for k, v in {**run.data.params, **run.data.tags}.items() if v == "None"], run.info.run_name
    assert "optimizer.clipnorm" not in children[0].data.params and children[0].data.params["model.width"] == "16"
    assert not list(tmp_path.glob("*.db"))  # the file store given, nothing else


def test_an_interrupted_study_ends_its_parent_run_killed_and_a_rerun_finishes_it(tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM during a study: the trial's run ends KILLED, and so must the study's parent
    run (it stayed RUNNING for ever in MLflow's UI); running the same command again reopens it."""
    import signal
    import time

    pytest.importorskip("mlflow", reason="logger=mlflow needs the mlflow extra")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from faultlib import start_kopt
    from mlflow.tracking import MlflowClient

    store = (tmp_path / "store").as_uri()
    args = [
        "tune",
        *TINY,
        "trainer.epochs=6",  # 250 batches an epoch: the signal lands in the trial, the rerun is short
        "dataset.size=2000",
        "trainer.batch_size=8",
        "tuner=random",
        "pruner=none",
        "tuner.n_trials=1",
        "tuner.study_name=cut",
        "tuner.retrain_best=false",
        "tuner.plots=false",
        "search.optimizer.lr=tag(log, interval(1e-3, 1e-2))",
        "logger=mlflow",
        f"logger.tracking_uri={store}",
        "logger.experiment=tune",
    ]
    proc = start_kopt(*args, cwd=tmp_path, env={"MLFLOW_ALLOW_FILE_STORE": "true"})
    metrics = tmp_path / "runs" / "tune" / "cut" / "trials" / "0" / "metrics.jsonl"
    deadline = time.time() + 300
    while not (metrics.is_file() and metrics.read_text().strip()) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, out[-2000:] + err[-2000:]

    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("tune").experiment_id

    def statuses() -> dict[str, list[str]]:
        by_role: dict[str, list[str]] = {}
        for run in client.search_runs([experiment]):
            by_role.setdefault(run.data.tags.get("kopt.role", "?"), []).append(run.info.status)
        return by_role

    assert statuses() == {"study": ["KILLED"], "trial": ["KILLED"]}

    proc = run_kopt(*args, cwd=tmp_path)  # the same command resumes the study
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = statuses()
    assert found["study"] == ["FINISHED"] and sorted(found["trial"]) == ["FINISHED", "KILLED"], found
