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
        ([], "RunMode.RUN", 2),  # kopt's validation, Hydra's run: not a third time for Hydra's get_mode
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
