"""`kopt report` on hand-made run dirs (no training): discovery, statuses, grouping, sorting, exports,
plots and errors; plus the launcher presets and the logger group (config-level, no TensorFlow)."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest
import yaml
from conftest import assert_clean_error, run_kopt


def fake_run(
    path: Path,
    status: str = "completed",
    overrides=(),
    choices=None,
    seed: int = 0,
    metrics=None,
    folds: int = 1,
    error: str | None = None,
    epochs: int = 3,
) -> Path:
    """A run dir as `kopt train` writes it (summary.json, .hydra/overrides.yaml, metrics.jsonl)."""
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(list(overrides)))
    (path / ".hydra" / "config.yaml").write_text("seed: 0\n")
    summary = {
        "status": status,
        "metrics": metrics or {},
        "folds": [{"fold": i} for i in range(folds)],
        "params": 1234,
        "duration_s": 2.5,
        "seed": seed,
        "choices": choices or {"model": "mlp"},
    }
    if error:
        summary["error"] = error
    (path / "summary.json").write_text(json.dumps(summary))
    base = (metrics or {}).get("val_accuracy", 0.5)
    rows = [
        {
            "fold": f,
            "epoch": e,
            "loss": 1.0 / e,
            "accuracy": base * e / epochs,
            "val_loss": 1.2 / e,
            "val_accuracy": base * e / epochs - 0.01 * f,
        }
        for f in range(folds)
        for e in range(1, epochs + 1)
    ]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def m(val_acc: float, test_acc: float) -> dict:
    return {"val_accuracy": val_acc, "val_loss": 1 - val_acc, "test_accuracy": test_acc, "test_loss": 1 - test_acc}


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def runs_tree(tmp_path: Path) -> Path:
    """runs/ with a single run, a sweep, a study, and runs that failed, were interrupted, run, never started."""
    runs = tmp_path / "runs"
    fake_run(runs / "train" / "2026-01-01_00-00-00_000001", metrics=m(0.8, 0.7))
    fake_run(runs / "train" / "2026-01-01_00-00-01_000001", status="failed", error="NaN/inf loss at epoch 3")
    fake_run(runs / "train" / "2026-01-01_00-00-02_000001", status="interrupted", error="SIGINT")
    fake_run(runs / "train" / "2026-01-01_00-00-03_000001", status="running")
    (runs / "train" / "2026-01-01_00-00-04_000001" / ".hydra").mkdir(parents=True)  # never got going
    (runs / "train" / "2026-01-01_00-00-04_000001" / ".hydra" / "config.yaml").write_text("seed: 0\n")
    sweep = runs / "multirun" / "2026-01-02_00-00-00_000001"
    for job, (reg, seed) in enumerate([("none", 0), ("l2", 0), ("none", 1), ("l2", 1)]):
        fake_run(
            sweep / str(job),
            overrides=[f"regularizer={reg}", f"seed={seed}"],
            seed=seed,
            choices={"model": "mlp", "regularizer": reg},
            metrics=m(0.6 + 0.1 * job, 0.5 + 0.05 * job),
        )
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    study = runs / "tune" / "lr-study"
    (study / ".hydra").mkdir(parents=True)
    (study / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (study / "summary.json").write_text(json.dumps({"status": "completed", "best": {"value": 0.9}}))
    for trial in range(2):
        fake_run(
            study / "trials" / str(trial),
            overrides=[f"optimizer.lr={0.1 / (trial + 1)}"],
            metrics=m(0.9 - 0.1 * trial, 0.85),
        )
    return tmp_path


def test_report_finds_every_run_and_shows_every_status(runs_tree):
    proc = run_kopt("report", "--csv", "all.csv", cwd=runs_tree)  # default PATH: runs/
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = read_csv(runs_tree / "all.csv")
    assert len(rows) == 5 + 4 + 2
    by_status = {}
    for row in rows:
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
    assert by_status == {"completed": 7, "failed": 1, "interrupted": 1, "running": 1, "unknown": 1}
    for status in ("failed", "interrupted", "running", "unknown"):
        assert status in proc.stdout
    assert "NaN/inf loss at epoch 3" in proc.stdout
    assert "not completed: 1 failed, 1 interrupted, 1 running, 1 unknown" in proc.stdout
    study_rows = [r for r in rows if "/tune/lr-study/trials/" in r["run"]]
    assert sorted(r["optimizer.lr"] for r in study_rows) == ["0.05", "0.1"]


def test_report_takes_any_mix_of_paths_without_duplicates(runs_tree):
    sweep = "runs/multirun/2026-01-02_00-00-00_000001"
    single = "runs/train/2026-01-01_00-00-00_000001"
    proc = run_kopt(
        "report",
        sweep,
        single,
        f"{sweep}/1",
        "runs/tune/lr-study",
        f"{single}/summary.json",
        "--csv",
        "mix.csv",
        cwd=runs_tree,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = [Path(r["run"]).as_posix() for r in read_csv(runs_tree / "mix.csv")]  # as given: relative to the cwd
    assert runs == [f"{sweep}/{j}" for j in range(4)] + [single] + [f"runs/tune/lr-study/trials/{t}" for t in range(2)]


def test_group_by_gives_mean_and_std_over_seeds_of_completed_runs(runs_tree):
    runs = runs_tree / "runs" / "g"
    vals = {"mlp": [0.61, 0.72, 0.83], "cnn": [0.9, 0.94]}
    i = 0
    for model, accs in vals.items():
        for seed, acc in enumerate(accs):
            fake_run(
                runs / str(i),
                overrides=[f"model={model}", f"seed={seed}"],
                choices={"model": model},
                seed=seed,
                metrics=m(acc, acc - 0.05),
            )
            i += 1
    fake_run(runs / str(i), status="failed", overrides=["model=mlp", "seed=9"], seed=9, error="boom")
    proc = run_kopt("report", "runs/g", "--group-by", "model", "--csv", "g.csv", "--markdown", "g.md", cwd=runs_tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {r["model"]: r for r in read_csv(runs_tree / "g.csv")}
    assert set(rows) == {"mlp", "cnn"}
    for model, accs in vals.items():
        assert float(rows[model]["val_accuracy_mean"]) == pytest.approx(statistics.mean(accs))
        assert float(rows[model]["val_accuracy_std"]) == pytest.approx(statistics.stdev(accs))
        assert float(rows[model]["test_accuracy_mean"]) == pytest.approx(statistics.mean(accs) - 0.05)
        assert int(rows[model]["completed"]) == len(accs)
    assert rows["mlp"]["not_completed"] == "1" and rows["mlp"]["runs"] == "4"
    md = (runs_tree / "g.md").read_text()
    mean, std = statistics.mean(vals["cnn"]), statistics.stdev(vals["cnn"])
    assert f"| cnn | 2 | 2 | {mean:.4f} ± {std:.4f} |" in md
    assert "| failed |" in md and "boom" in md


def test_group_of_one_kfold_run_shows_the_std_across_folds(tmp_path):
    metrics = {**m(0.8, 0.7), "val_accuracy_std": 0.03}
    fake_run(tmp_path / "runs" / "k", folds=5, metrics=metrics)
    proc = run_kopt("report", "runs/k", "--group-by", "model", "--csv", "k.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    row = read_csv(tmp_path / "k.csv")[0]
    assert float(row["val_accuracy_std"]) == pytest.approx(0.03)
    assert "0.8000 ± 0.0300" in proc.stdout


def test_sort_orders_runs_best_first_and_puts_runs_without_the_value_last(runs_tree):
    sweep = "runs/multirun/2026-01-02_00-00-00_000001"
    fails = "runs/train/2026-01-01_00-00-01_000001"
    for spec, key, reverse in (
        ("val_accuracy", "val_accuracy", True),
        ("val_loss", "val_loss", False),
        ("val_accuracy:asc", "val_accuracy", False),
        ("test_loss:desc", "test_loss", True),
    ):
        proc = run_kopt("report", sweep, fails, "--sort", spec, "--csv", "s.csv", cwd=runs_tree)
        assert proc.returncode == 0, proc.stderr
        rows = read_csv(runs_tree / "s.csv")
        values = [float(r[key]) for r in rows[:-1]]
        assert values == sorted(values, reverse=reverse) and len(set(values)) == 4
        assert rows[-1]["status"] == "failed" and rows[-1][key] == ""


def test_status_filter_and_plot(runs_tree):
    from PIL import Image

    from kopt.report.plots import COMPARE_SIZE, DPI

    proc = run_kopt("report", "--status", "failed,interrupted", "--csv", "f.csv", cwd=runs_tree)
    assert proc.returncode == 0, proc.stderr
    assert sorted(r["status"] for r in read_csv(runs_tree / "f.csv")) == ["failed", "interrupted"]

    proc = run_kopt("report", "--plot", "--group-by", "regularizer", cwd=runs_tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with Image.open(runs_tree / "report.png") as img:
        width, height = img.size  # taller by the legend below the curves (the axes keep their height)
        assert width == COMPARE_SIZE[0] * DPI and height >= COMPARE_SIZE[1] * DPI
        assert len(img.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 10


@pytest.mark.parametrize(
    "args, needles",
    [
        (["no/such/dir"], ["no/such/dir", "no such file or folder"]),
        (["empty"], ["no run dirs found", "empty"]),
        (["runs", "--group-by", "modle"], ["--group-by modle", "allowed", "regularizer"]),
        (["runs", "--sort", "val_acc"], ["--sort val_acc", "val_accuracy"]),
        (["runs", "--sort", "val_accuracy:up"], ["asc or desc"]),
        (["runs", "--plot", "fig.txt"], ["--plot fig.txt", ".png"]),
        (["runs", "--csv", "missing/out.csv"], ["--csv missing/out.csv", "does not exist"]),
        (["runs", "--metric", "f1"], ["--metric", "f1"]),
        (["runs", "--status", "done"], ["--status done"]),
        (["runs", "--frobnicate"], ["--frobnicate"]),
    ],
)
def test_report_errors_are_one_clean_line(runs_tree, args, needles):
    (runs_tree / "empty").mkdir()
    proc = run_kopt("report", *args, cwd=runs_tree)
    assert_clean_error(proc, *needles)
    assert not list(runs_tree.glob("*.png")) and not list(runs_tree.glob("*.csv"))


def test_report_is_listed_and_has_help(tmp_path):
    proc = run_kopt("--help", cwd=tmp_path)
    assert "report" in proc.stdout and "logger" in proc.stdout
    proc = run_kopt("report", "--help", cwd=tmp_path)
    assert proc.returncode == 0 and "--group-by" in proc.stdout and "--plot" in proc.stdout


def test_slurm_preset_composes_from_submitit(tmp_path):
    proc = run_kopt(
        "train",
        "hydra/launcher=slurm",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.gpus_per_task=1",
        "hydra.launcher.timeout_min=120",
        "--cfg",
        "hydra",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    launcher = yaml.safe_load(proc.stdout)["hydra"]["launcher"]
    assert launcher["_target_"] == "hydra_plugins.kopt_launcher.slurm_launcher.SlurmLauncher"  # submitit's, extended
    assert (launcher["partition"], launcher["gpus_per_task"], launcher["timeout_min"]) == ("gpu", 1, 120)
    assert launcher["array_parallelism"] == 16 and launcher["submitit_folder"].endswith("/.submitit/%j")
    assert not (tmp_path / "runs").exists()


def test_slurm_sweep_off_a_cluster_is_one_clean_line(tmp_path):
    # CI installs SLURM (tests/test_slurm.py): a PATH without srun stands for a machine without it
    proc = run_kopt("train", "-m", "hydra/launcher=slurm", "seed=0,1", cwd=tmp_path, env={"PATH": str(tmp_path)})
    assert_clean_error(proc, "hydra/launcher=slurm", "srun", "joblib")
    assert not (tmp_path / "runs").exists()


def test_joblib_launcher_override_passes_pre_validation(tmp_path):
    proc = run_kopt("train", "hydra/launcher=joblib", "hydra.launcher.n_jobs=3", "--cfg", "hydra", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    launcher = yaml.safe_load(proc.stdout)["hydra"]["launcher"]
    assert launcher["_target_"].endswith("JoblibLauncher") and launcher["n_jobs"] == 3
    proc = run_kopt("train", "-m", "hydra/launcher=joblib", "seed=0,1", "--cfg", "hydra", cwd=tmp_path)
    assert_clean_error(proc, "-m", "--cfg")


def test_logger_group_defaults_to_csv_and_mlflow_needs_its_package(tmp_path):
    import importlib.util

    proc = run_kopt("train", "--cfg", "job", cwd=tmp_path)
    assert yaml.safe_load(proc.stdout)["logger"] == {"name": "csv", "tensorboard": True}
    proc = run_kopt("train", "logger=mlflow", "logger.log_model=maybe", cwd=tmp_path)
    assert_clean_error(proc, "logger.log_model")
    if importlib.util.find_spec("mlflow") is None:
        proc = run_kopt("train", "logger=mlflow", cwd=tmp_path)
        assert_clean_error(proc, "logger=mlflow", "pip install")
    assert not (tmp_path / "runs").exists()


def test_mean_std_and_sort_helpers():
    from kopt.report.collect import RunRecord
    from kopt.report.table import mean_std, sort_records

    values = [0.25, 0.5, 0.125]
    assert mean_std(values) == pytest.approx((statistics.mean(values), statistics.stdev(values)))
    assert mean_std([0.5]) == (0.5, None) and mean_std([]) == (None, None)
    recs = [
        RunRecord(Path(str(i)), "completed", keys={"optimizer.lr": lr}) for i, lr in enumerate(["0.1", "1e-3", "0.01"])
    ]
    assert [r.keys["optimizer.lr"] for r in sort_records(recs, "optimizer.lr")] == ["1e-3", "0.01", "0.1"]  # numeric


def test_mlflow_logger_logs_params_epochs_and_model(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # for this test's own client (kopt sets it itself)
    from conftest import TINY, only_run_dir, read_summary
    from mlflow.tracking import MlflowClient

    store = tmp_path / "store"
    proc = run_kopt(
        "train", *TINY, "logger=mlflow", f"logger.tracking_uri={store.as_uri()}", "logger.experiment=exp1", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = only_run_dir(tmp_path)
    client = MlflowClient(tracking_uri=store.as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("exp1").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == run_dir.name
    assert run.data.params["model.width"] == "16" and run.data.params["seed"] == "0"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    history = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [(h.step, h.value) for h in history] == [(r["epoch"], pytest.approx(r["val_accuracy"])) for r in rows]
    assert run.data.metrics["final/test_accuracy"] == pytest.approx(read_summary(run_dir)["metrics"]["test_accuracy"])
    assert not [k for k, v in {**run.data.params, **run.data.tags}.items() if v == "None"]  # nulls left out
    from test_mlflow import keras_models

    assert keras_models(client, run) == {"model": True}  # MLflow's Keras flavour, not a bare file
