"""What a study leaves for the user and their tools: best.yaml reruns with overrides, trial dirs
that `kopt report` reads, and a study that the stock Optuna CLI lists cleanly."""

from __future__ import annotations

import json
from types import SimpleNamespace

import optuna
import pytest
import yaml
from omegaconf import OmegaConf

from conftest import TINY_DATA, read_summary, run_kopt


def _plan(*overrides: str):
    from kopt.commands.tune import quote_search_overrides, validate_tune
    from kopt.compose import compose_and_validate, search_dirs
    from kopt.tune.plan import build_plan

    argv = quote_search_overrides([*TINY_DATA, "tuner.study_name=s", *overrides])
    line, cfgs = compose_and_validate(argv, "tune", [validate_tune])
    return build_plan(cfgs[0], line.overrides, search_dirs(None))


@pytest.fixture
def best_dir(tmp_path):
    """A study dir holding only the best.yaml of a CNN trial with lr=0.01, width=8 (no study run)."""
    from kopt.paths import config_groups
    from kopt.tune.report import best_config, write_best_yaml

    plan = _plan("model=cnn", "model.dense=0", "optimizer=sgd", "search.optimizer.lr=choice(1e-2, 1e-3)",
                 "search.model.width=choice(4, 8)")
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
    proc = run_kopt("train", "--config-dir", str(study_dir), "--config-name", "best",
                    "split=kfold", "split.k=3", "model=mlp", "model.width=16", "model.depth=1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = next((tmp_path / "runs" / "train").iterdir())
    summary = read_summary(run_dir)
    assert summary["choices"]["split"] == "kfold" and summary["choices"]["model"] == "mlp"
    assert summary["choices"]["optimizer"] == "sgd" and len(summary["folds"]) == 3
    cfg = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    assert cfg["split"]["k"] == 3 and cfg["model"]["name"] == "mlp" and cfg["model"]["width"] == 16
    assert cfg["optimizer"]["lr"] == 1e-2 and cfg["dataset"]["name"] == "synthetic"
