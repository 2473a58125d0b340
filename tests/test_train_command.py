"""kopt train keeps no state between calls: a failed sweep does not fail a later run (training\nstubbed: no TensorFlow)."""

from __future__ import annotations

import sys
import types

import pytest

from kopt.errors import RunFailed


def test_a_failed_sweep_does_not_fail_the_next_run(tmp_path, monkeypatch):
    from kopt.commands import train

    monkeypatch.chdir(tmp_path)
    fake = types.ModuleType("kopt.training.run")  # training stubbed: seed=1 fails, the rest "trains"

    def run_from_hydra(cfg, titled=True):
        from hydra.core.hydra_config import HydraConfig

        from kopt.rundir import SUMMARY, atomic_write_json, read_json

        if cfg.seed == 1:
            raise RunFailed("NaN loss")
        path = tmp_path / HydraConfig.get().runtime.output_dir / SUMMARY
        atomic_write_json(path, {**read_json(path), "status": "completed"})
        return {}

    fake.run_from_hydra, fake.choices, fake.header_items = run_from_hydra, lambda cfg: {}, lambda cfg: {}
    monkeypatch.setitem(sys.modules, "kopt.training.run", fake)
    with pytest.raises(RunFailed, match="1 job"):
        train.main(["-m", "dataset=digits", "model=cnn", "seed=1,2"])
    train.main(["dataset=digits", "model=cnn", "seed=2"])  # a single run that succeeds


def _stub_training(monkeypatch, tmp_path, seen: list):
    """kopt.training.run replaced: each job records Hydra's mode and marks its run completed."""
    fake = types.ModuleType("kopt.training.run")

    def run_from_hydra(cfg, titled=True):
        from hydra.core.hydra_config import HydraConfig

        from kopt.rundir import SUMMARY, atomic_write_json, read_json

        seen.append(str(HydraConfig.get().mode))
        path = tmp_path / HydraConfig.get().runtime.output_dir / SUMMARY
        atomic_write_json(path, {**read_json(path), "status": "completed"})
        return {}

    fake.run_from_hydra, fake.choices, fake.header_items = run_from_hydra, lambda cfg: {}, lambda cfg: {}
    monkeypatch.setitem(sys.modules, "kopt.training.run", fake)


@pytest.mark.parametrize(
    ("args", "mode", "composed"),
    [
        ([], "RunMode.RUN", 1),  # kopt's validation only: Hydra runs that config, and reads its mode
        (["hydra.mode=MULTIRUN"], "RunMode.MULTIRUN", 2),  # a sweep without -m, as in Hydra
        (["-m", "seed=1,2"], "RunMode.MULTIRUN", 3),  # 2 jobs validated, Hydra's sweep (its jobs: the sweeper's own)
    ],
)
def test_hydra_reads_the_mode_kopt_composed_instead_of_composing_again(args, mode, composed, tmp_path, monkeypatch):
    from hydra._internal.hydra import Hydra

    from kopt.commands import train

    monkeypatch.chdir(tmp_path)
    seen: list = []
    _stub_training(monkeypatch, tmp_path, seen)
    calls = []
    real = Hydra.compose_config
    monkeypatch.setattr(Hydra, "compose_config", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    train.main([*args, "dataset=digits", "model=mlp"])
    assert set(seen) == {mode} and len(seen) == (2 if "-m" in args else 1)
    assert len(calls) == composed
    assert Hydra.get_mode is not None and "lambda" not in Hydra.get_mode.__qualname__  # Hydra's own again


def _run_recorded(monkeypatch, tmp_path, argv: list[str], shortcut: bool) -> dict:
    """`kopt train ARGV` with training stubbed: the job's config, its HydraConfig and its .hydra files."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from kopt import hydra_app
    from kopt.commands import train

    seen: dict = {}
    fake = types.ModuleType("kopt.training.run")

    def run_from_hydra(cfg, titled=True):
        seen["job"] = OmegaConf.to_container(cfg, resolve=False)
        seen["hydra"] = OmegaConf.to_container(HydraConfig.get(), resolve=False)
        seen["struct"] = OmegaConf.is_struct(cfg)
        return {}

    fake.run_from_hydra, fake.choices, fake.header_items = run_from_hydra, lambda cfg: {}, lambda cfg: {}
    monkeypatch.setitem(sys.modules, "kopt.training.run", fake)
    if not shortcut:
        run = hydra_app.run_hydra_app
        monkeypatch.setattr(train, "run_hydra_app", lambda *a, composed=None, **k: run(*a, **k))
    train.main(argv)
    monkeypatch.undo()
    out = tmp_path / "out"
    seen["files"] = {p.name: p.read_text() for p in sorted((out / ".hydra").iterdir())}
    import shutil

    shutil.rmtree(out)
    return seen


@pytest.mark.parametrize(
    "argv",
    [
        ["dataset=digits", "model=mlp"],
        ["dataset=synthetic", "model=cnn", "model.width=8", "seed=3", "name=exp1", "hydra.job.name=mine"],
        ["dataset=digits", "model=mlp", "hydra.verbose=true", "hydra.job_logging.root.level=DEBUG"],
    ],
)
def test_hydra_runs_the_config_kopt_composed_as_it_would_have_composed_it(argv, tmp_path, monkeypatch):
    """kopt.hydra_app hands Hydra's single run the config kopt composed (one composition less): the job's
    config, its HydraConfig and the .hydra files are those of Hydra's own composition, to the byte."""
    monkeypatch.chdir(tmp_path)
    argv = [*argv, "hydra.run.dir=out"]
    with monkeypatch.context() as m:
        mine = _run_recorded(m, tmp_path, argv, shortcut=True)
    with monkeypatch.context() as m:
        hydras = _run_recorded(m, tmp_path, argv, shortcut=False)
    assert mine == hydras
    assert (
        mine["struct"]
        and str(mine["hydra"]["mode"]) == "RunMode.RUN"
        and mine["hydra"]["overrides"]["hydra"][-1] == "hydra.mode=RUN"
    )
