"""What a study leaves for the user and their tools: best.yaml reruns with overrides, trial dirs
that `kopt report` reads, and a study that the stock Optuna CLI lists cleanly."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import yaml
from conftest import TINY_DATA, kopt_env, read_summary, run_kopt
from omegaconf import OmegaConf

from kopt.errors import KoptError


def optuna_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The stock `optuna` command-line tool of this Python environment (a journal file path works as
    its --storage)."""
    exe = Path(sys.executable).parent / "optuna"
    return subprocess.run([str(exe), *args], cwd=cwd, text=True, capture_output=True, timeout=120, env=kopt_env())


def _plan(*overrides: str):
    from kopt.commands.tune import quote_search_overrides, validate_tune
    from kopt.compose import compose_and_validate, search_dirs
    from kopt.tune.planning.plan import build_plan

    argv = quote_search_overrides([*TINY_DATA, "tuner.study_name=s", *overrides])
    line, cfgs = compose_and_validate(argv, "tune", [validate_tune])
    return build_plan(cfgs[0], line.overrides, search_dirs(None))


@pytest.fixture
def best_dir(tmp_path):
    """A study dir holding only the best.yaml of a CNN trial with lr=0.01, width=8 (no study run)."""
    from kopt.paths import config_groups
    from kopt.tune.results.best import best_config, write_best_yaml

    plan = _plan(
        "model=cnn",
        "model.dense=0",
        "optimizer=sgd",
        "search.optimizer.lr=choice(1e-2, 1e-3)",
        "search.model.width=choice(4, 8)",
    )
    trial = SimpleNamespace(number=3, value=0.5, params={"optimizer.lr": 1e-2, "model.width": 8})
    study_dir = tmp_path / "runs" / "tune" / "s"
    study_dir.mkdir(parents=True)
    write_best_yaml(study_dir, plan, trial, config_groups())
    return study_dir, OmegaConf.to_container(best_config(plan, trial), resolve=True)


def test_best_yaml_without_overrides_composes_to_the_best_trial(best_dir, tmp_path):
    study_dir, expected = best_dir
    proc = run_kopt("train", "--config-dir", str(study_dir), "--config-name", "best", "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout) == expected


def test_best_yaml_takes_group_and_key_overrides(best_dir, tmp_path):
    """`--config-name best split=kfold split.k=3 model=mlp` trains an MLP on 3 folds, with the
    best trial's other values (sgd, lr=0.01) kept."""
    study_dir, _ = best_dir
    proc = run_kopt(
        "train",
        "--config-dir",
        str(study_dir),
        "--config-name",
        "best",
        "split=kfold",
        "split.k=3",
        "model=mlp",
        "model.width=16",
        "model.depth=1",
        "trainer.epochs=1",  # (the overrides and the kept values are checked, not the training)
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = next((tmp_path / "runs" / "train").iterdir())
    summary = read_summary(run_dir)
    assert summary["choices"]["split"] == "kfold" and summary["choices"]["model"] == "mlp"
    assert summary["choices"]["optimizer"] == "sgd" and len(summary["folds"]) == 3
    cfg = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    assert cfg["split"]["k"] == 3 and cfg["model"]["name"] == "mlp" and cfg["model"]["width"] == 16
    assert cfg["optimizer"]["lr"] == 1e-2 and cfg["dataset"]["name"] == "synthetic"


def assert_optuna_and_report_read_the_study(study_dir: Path, name: str, cwd: Path) -> None:
    """For a finished study with a journal file (test_tune_cli runs one): `optuna studies` prints
    short lines (no 2 kB plan attribute), trials carry an absolute run dir and the metric's name,
    pruning steps are the epochs of metrics.jsonl, and `kopt report` on the study dir shows what
    each trial sampled (from its .hydra/overrides.yaml)."""
    from kopt.tune.store.storage import open_storage

    journal = str(study_dir / "journal.log")
    listed = optuna_cli("studies", "--storage", journal, cwd=cwd)
    assert listed.returncode == 0, listed.stderr
    assert name in listed.stdout
    assert max(len(line) for line in listed.stdout.splitlines()) < 200, listed.stdout

    study = optuna.load_study(study_name=name, storage=open_storage(journal))
    assert study.metric_names == ["val_accuracy"]
    assert json.loads((study_dir / "plan.json").read_text())["metric"] == "val_accuracy"
    for t in study.trials:
        run_dir = Path(t.user_attrs["run_dir"])
        assert run_dir.is_absolute() and run_dir == (study_dir / "trials" / str(t.number)).resolve()
        if t.state.name == "COMPLETE":
            rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
            epochs = int(yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())["trainer"]["epochs"])
            folds = sorted({r["fold"] for r in rows})
            steps = {folds.index(r["fold"]) * epochs + r["epoch"]: r["val_accuracy"] for r in rows}
            assert t.intermediate_values == pytest.approx(steps)
            assert min(steps) == 1  # the first epoch is step 1, as metrics.jsonl counts it

    report = run_kopt("report", str(study_dir), "--csv", "report.csv", cwd=cwd)
    assert report.returncode == 0, report.stderr
    with open(cwd / "report.csv") as fh:
        rows = {Path(r["run"]).name: r for r in csv.DictReader(fh) if "trials" in r["run"]}
    assert len(rows) == len(study.trials)
    for t in study.trials:
        for key, value in t.params.items():
            assert float(rows[str(t.number)][key]) == pytest.approx(value), (key, rows[str(t.number)])


def test_a_study_that_kept_its_plan_in_the_user_attribute_resumes(tmp_path):
    """Studies made before the plan moved out of the user attributes still resume and join."""
    from kopt.tune.planning.plan import ATTR, PLAN_FILE
    from kopt.tune.running.study import check_resume, load_study, open_study
    from kopt.tune.store.storage import open_storage

    plan = _plan("model=mlp", "search.model.width=choice(8, 16)")
    journal = str(tmp_path / "journal.log")
    old = optuna.create_study(study_name="s", storage=open_storage(journal), direction="maximize")
    old.set_user_attr(ATTR, plan.to_attr())  # how kopt stored it before
    old.add_trial(optuna.trial.create_trial(value=0.5))
    check_resume(plan, journal)
    assert load_study(open_storage(journal), "s")[1].bases == plan.bases
    study = open_study(plan, open_storage(journal))
    assert study.user_attrs[ATTR] == PLAN_FILE
    assert load_study(open_storage(journal), "s")[1].bases == plan.bases
    changed = _plan("model=mlp", "search.model.width=choice(8, 32)")
    with pytest.raises(KoptError, match="exists with a different setup"):
        check_resume(changed, journal)
