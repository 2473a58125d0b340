"""Validation looks at this machine (data files, your modules, cores) when told to: ``machine`` is an
argument of kopt.validate, not a switch of the process. A config that is only shown (``--cfg job``)
or read back is checked as values; a config that will run, against this machine too."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import assert_clean_error, run_kopt
from omegaconf import OmegaConf

from kopt.errors import KoptError
from kopt.validate import validate_group, validate_train

PLANTED = 'open("IMPORTED", "w").write("x")\n\n\ndef build(input_shape, num_outputs, width=4):\n    return None\n'
SAVED = ["dataset=npz", "dataset.path=data.npz", "model=custom", "model._target_=plantnets.build", "++model.width=3"]


@pytest.fixture
def saved(tmp_path, monkeypatch):
    """A folder with a module of yours that leaves a mark when imported, and the config `kopt train
    --cfg job` showed for a run on an npz file not there yet (the test process in that folder)."""
    (tmp_path / "plantnets.py").write_text(PLANTED)
    proc = run_kopt("train", *SAVED, "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (tmp_path / "IMPORTED").exists()  # shown, never imported
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KOPT_IMPORT_ROOTS", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "plantnets", raising=False)
    yield tmp_path, OmegaConf.create(proc.stdout)
    sys.modules.pop("plantnets", None)


def test_a_config_checked_without_the_machine_reads_no_file_and_imports_nothing(saved):
    folder, cfg = saved
    assert cfg.dataset.path == "data.npz" and cfg.model._target_ == "plantnets.build" and cfg.model.width == 3
    validate_train(cfg, machine=False)  # the data file is missing: not looked at
    assert not (folder / "IMPORTED").exists() and "plantnets" not in sys.modules
    with pytest.raises(KoptError, match=r"^dataset\.path=data\.npz: no such file$"):
        validate_train(cfg)  # the same config, for a run: this machine has no data.npz
    assert not (folder / "IMPORTED").exists()
    np.savez(folder / "data.npz", x_train=np.zeros((20, 2)), y_train=np.arange(20) % 2)
    validate_train(cfg, machine=False)
    assert not (folder / "IMPORTED").exists()
    validate_train(cfg)  # for a run: your builder is imported and its keys checked
    assert (folder / "IMPORTED").read_text() == "x"


def test_a_value_rule_holds_whatever_the_machine(saved):
    folder, cfg = saved
    np.savez(folder / "data.npz", x_train=np.zeros((20, 2)), y_train=np.arange(20) % 2)
    cfg.model.input_shape = [2]  # kopt sets it from the data: refused as a value, on any machine
    for machine in (False, True):
        with pytest.raises(KoptError, match=r"^model\.input_shape: is set by kopt"):
            validate_train(cfg, machine=machine)
    assert not (folder / "IMPORTED").exists()


def test_the_cores_are_a_fact_of_this_machine(tmp_path):
    from kopt.procs import usable_cores

    proc = run_kopt("tune", "tuner.n_workers=100000", "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = OmegaConf.create(proc.stdout)
    assert cfg.tuner.n_workers == 100000
    assert validate_group(cfg, "tuner", machine=False).n_workers == 100000
    with pytest.raises(
        KoptError, match=rf"^tuner\.n_workers=100000 is out of range; allowed: 1 \.\. {usable_cores()} "
    ):
        validate_group(cfg, "tuner")


def test_kopt_tune_cfg_job_shows_a_study_on_a_data_file_this_machine_lacks(tmp_path):
    """As `kopt train --cfg job` does: the plan's probes check values, not this machine's files."""
    search = ["dataset=npz", "dataset.path=missing.npz", "model=mlp", "search.model.width=choice(3,5)"]
    proc = run_kopt("tune", *search, "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = OmegaConf.create(proc.stdout)
    assert cfg.dataset.path == "missing.npz" and cfg.search.model.width == "choice(3,5)"
    proc = run_kopt("tune", *search, cwd=tmp_path)  # to run it: one line, nothing written
    assert_clean_error(proc, "dataset.path=missing.npz: no such file")
    assert not (tmp_path / "runs").exists()
