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
