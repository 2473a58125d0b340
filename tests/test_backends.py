"""`trainer.backend`: kopt on Keras' JAX backend (train, k-fold, exact resume, tune with pruning,
compare), models that load on any other backend, and the refusals (kopt.backend).

The JAX tests run whenever JAX is installed (the dev extra installs it, so CI runs them); the torch
backend is checked for its install hint only, its wheel being too large for CI."""

from __future__ import annotations

import importlib.util
import json
import signal
import sys

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent / "faults"))
from conftest import TINY, assert_clean_error, only_run_dir, read_summary, run_kopt, run_python, start_kopt
from faultlib import (
    assert_close_rows,
    assert_same_metrics,
    fault_rng,
    interrupt,
    metric_rows,
    wait_for_rows,
)

# Not real_process: none of these tests is about kopt's start-up, and each run_kopt is forked from
# the server whose Keras already runs on the backend the run chooses (tests/kopt_fork.py routes by
# trainer.backend, KERAS_BACKEND and a resumed run's own; a wrong route would be kopt.backend's
# one-line refusal, never a run on the other backend). The runs' summaries still record their backend.
# One xdist group ("jax", with test_forkserver's JAX test): one worker of `make test` starts the JAX
# server (the imports of TensorFlow, Keras and JAX once more), not both.
pytestmark = pytest.mark.xdist_group("jax")

needs_jax = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="JAX is not installed (pip install '.[jax]')"
)

# k-fold on JAX, small enough for seconds per fold
KFOLD = [
    "dataset=synthetic",
    "dataset.size=400",
    "model=mlp",
    "model.width=16",
    "model.depth=1",
    "split=kfold",
    "split.k=2",
    "trainer.epochs=4",
    "trainer.batch_size=32",
    "seed=3",
]

# Loads every model*.keras of a run on the backend in KERAS_BACKEND, with kopt unimportable, and
# prints the largest difference from the run's predictions.npz on the raw test rows.
LOAD = r"""
import sys
assert not [m for m in sys.modules if m == "kopt" or m.startswith("kopt.")], "kopt was imported"
sys.modules["kopt"] = None
import glob, json, os
import keras, numpy as np
run, raw = sys.argv[1], sys.argv[2]
with np.load(raw) as z:
    x = z["x"]
with np.load(os.path.join(run, "predictions.npz")) as z:
    fold_probs = z["fold_probs"]
paths = sorted(glob.glob(os.path.join(run, "model*.keras")))
diffs = [float(np.abs(keras.saving.load_model(p, safe_mode=True).predict(x, verbose=0) - fold_probs[k]).max())
         for k, p in enumerate(paths)]
print(json.dumps({"backend": keras.backend.backend(), "diffs": diffs}))
"""


def load_elsewhere(run, tmp_path, backend: str) -> dict:
    """Reload ``run``'s models under ``backend`` in a fresh interpreter, on the raw test inputs."""
    from omegaconf import OmegaConf

    from kopt.data.datasets import load_dataset

    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    data = load_dataset(cfg.dataset, int(cfg.seed))
    with np.load(run / "splits.npz") as z:
        raw_x = data.x[z["test"]]
    raw = tmp_path / f"raw-{backend}.npz"
    np.savez(raw, x=raw_x)
    # forked from the server whose Keras loaded on ``backend`` (which never imports kopt); LOAD makes
    # kopt unimportable itself, so kopt's folder may stay on PYTHONPATH (as the fork server's is)
    out = run_python("-c", LOAD, str(run), str(raw), cwd=tmp_path, env={"KERAS_BACKEND": backend}, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@needs_jax
def test_jax_kfold_run_records_its_backend_and_resumes_exactly(tmp_path, monkeypatch):
    ref_dir = tmp_path / "reference"
    ref_dir.mkdir()
    proc = run_kopt("train", *KFOLD, "trainer.backend=jax", cwd=ref_dir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "backend=jax" in proc.stdout.splitlines()[0]
    reference = only_run_dir(ref_dir)
    summary = read_summary(reference)
    assert summary["versions"]["backend"] == "jax" and summary["versions"]["jax"]
    assert len(summary["folds"]) == 2 and summary["metrics"]["val_accuracy_std"] >= 0

    # KERAS_BACKEND (trainer.backend=auto) chooses JAX too, as Keras users expect
    monkeypatch.setenv("KERAS_BACKEND", "jax")  # run_kopt and start_kopt pass the test's environment on
    proc = start_kopt("train", *KFOLD, cwd=tmp_path)
    run = wait_for_rows(proc, "runs/train/*/metrics.jsonl", tmp_path, fault_rng("jax").randint(1, 6)).parent
    interrupt(proc, signal.SIGTERM)
    assert read_summary(run)["status"] == "interrupted"
    proc = run_kopt("train", "resume=last", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming" in proc.stdout
    resumed = read_summary(run)
    assert resumed["versions"]["backend"] == "jax"
    assert_same_metrics(resumed["metrics"], summary["metrics"])
    assert_close_rows(metric_rows(run / "metrics.jsonl"), metric_rows(reference / "metrics.jsonl"))


@pytest.fixture(scope="module")
def jax_runs(tmp_path_factory):
    """Two k-fold runs on JAX that differ in their width (for compare), CNNs with batch norm: the two
    jobs of one sweep, so one process (JAX's start-up once). One block of one convolution (and its
    batch norm): a deeper CNN only compiled longer (100 -> 66 s of this sweep on the loaded VM)."""
    cwd = tmp_path_factory.mktemp("jax_runs")
    proc = run_kopt(
        "train",
        "-m",
        "model=cnn",
        "model.width=4,8",
        "model.depth=1",
        "model.convs_per_block=1",
        "model.dense=0",
        "dataset.limit=300",
        "split=kfold",
        "split.k=2",
        "trainer.epochs=2",
        "trainer.batch_size=32",
        "trainer.backend=jax",
        "hydra.sweep.dir=runs/w",
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [cwd / "runs" / "w" / job for job in ("0", "1")]
    assert [yaml.safe_load((run / ".hydra" / "config.yaml").read_text())["model"]["width"] for run in runs] == [4, 8]
    return cwd, runs


@needs_jax
def test_a_jax_model_loads_under_tensorflow_and_compare_reads_jax_runs(jax_runs, tmp_path):
    cwd, runs = jax_runs
    loaded = load_elsewhere(runs[0], tmp_path, "tensorflow")
    assert loaded["backend"] == "tensorflow" and len(loaded["diffs"]) == 2
    assert max(loaded["diffs"]) < 1e-4, loaded
    proc = run_kopt("compare", str(runs[0]), str(runs[1]), cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = cwd / proc.stdout.split("written: ")[1].split()[0]
    assert "corrected_resampled_t" in written.read_text()


@needs_jax
def test_a_tensorflow_model_with_fused_batch_norm_loads_under_jax(tmp_path):
    proc = run_kopt(
        "train",
        "model=resnet",
        "model.depth=8",
        "dataset=synthetic",
        "dataset.size=200",
        "dataset.shape=[8,8,3]",
        "trainer.epochs=1",
        "trainer.batch_size=32",
        "trainer.backend=tensorflow",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = only_run_dir(tmp_path)
    assert read_summary(run)["versions"]["backend"] == "tensorflow"
    loaded = load_elsewhere(run, tmp_path, "jax")
    assert loaded["backend"] == "jax" and max(loaded["diffs"]) < 1e-4, loaded


@needs_jax
def test_jax_study_prunes_and_every_trial_runs_on_jax(tmp_path):
    proc = run_kopt(
        "tune",
        *TINY,
        "trainer.epochs=4",
        "trainer.backend=jax",
        "tuner=random",
        "tuner.n_trials=5",
        "pruner=median",
        "pruner.n_startup_trials=1",
        "pruner.n_warmup_steps=0",
        "search.optimizer.lr=tag(log, interval(1e-5, 1e-1))",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = sorted((tmp_path / "runs" / "tune").glob("*/trials/*/summary.json"))
    assert len(trials) == 5
    statuses = [json.loads(p.read_text())["status"] for p in trials]
    assert "completed" in statuses and "pruned" in statuses, statuses
    backends = {json.loads(p.read_text()).get("versions", {}).get("backend") for p in trials}
    assert backends == {"jax"}, backends


def test_backend_refusals_are_one_line(tmp_path):
    proc = run_kopt("train", *TINY, "trainer.backend=theano", cwd=tmp_path)
    assert_clean_error(proc, "trainer.backend", "tensorflow, jax, torch")
    proc = run_kopt("tune", *TINY, "search.trainer.backend=choice(jax,tensorflow)", cwd=tmp_path)
    assert_clean_error(proc, "search.trainer.backend", "outside search")
    if importlib.util.find_spec("torch") is None:
        proc = run_kopt("train", *TINY, "trainer.backend=torch", cwd=tmp_path)
        assert_clean_error(proc, "trainer.backend=torch", "kopt[torch]")
    proc = run_kopt("train", *TINY, "trainer.backend=auto", cwd=tmp_path, env={"KERAS_BACKEND": "mxnet"})
    assert_clean_error(proc, "KERAS_BACKEND=mxnet")
    assert not (tmp_path / "runs").exists()  # refused before any run dir was made


def test_one_process_keeps_the_backend_keras_loaded_with(monkeypatch):
    from kopt import backend
    from kopt.errors import KoptError

    class FakeKeras:  # a Keras that loaded on torch
        class backend:
            @staticmethod
            def backend():
                return "torch"

    monkeypatch.setitem(sys.modules, "keras", FakeKeras)
    monkeypatch.setattr(backend, "check", lambda name, key="trainer.backend": backend.resolve(name))
    with pytest.raises(KoptError, match="cannot change backends"):
        backend.select("jax")
    assert backend.select("torch") == "torch"
    with pytest.raises(KoptError, match="differs"):
        backend.study_backend({"cnn": {"trainer": {"backend": "jax"}}, "mlp": {"trainer": {"backend": "tensorflow"}}})
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert backend.study_backend({"cnn": {"trainer": {"backend": "auto"}}}) == "tensorflow"
