"""`trainer.strategy`: tf.distribute data parallelism (mirrored; multi_worker over loopback ports)."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
from conftest import TINY, assert_clean_error, only_run_dir, read_summary, run_kopt, start_kopt

# Two batch-norm MLP layers, so synchronised batch statistics are exercised too.
MODEL = [*TINY, "model.depth=2"]


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def assert_contract(run) -> dict:
    assert (run / ".hydra" / "config.yaml").is_file() and (run / "train.log").is_file()
    summary = read_summary(run)
    assert summary["status"] == "completed", summary
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert (run / "model.keras").is_file()
    with np.load(run / "predictions.npz", allow_pickle=False) as z:
        assert z["probs"].shape == (40, 10)
        acc = float((z["probs"].argmax(1) == z["y_true"]).mean())
    assert acc == pytest.approx(summary["metrics"]["test_accuracy"], abs=1e-6)
    return summary


def metrics(summary: dict) -> list[float]:
    return [summary["metrics"][k] for k in ("val_accuracy", "val_loss", "test_accuracy", "test_loss")]


@pytest.fixture(scope="module")
def mirrored_run(tmp_path_factory):
    """One process, one replica, batch norm synchronised: what two workers must reproduce."""
    cwd = tmp_path_factory.mktemp("mirrored")
    proc = run_kopt("train", *MODEL, "trainer.strategy=mirrored", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return assert_contract(only_run_dir(cwd))


def test_mirrored_on_cpu_trains_to_the_contract(mirrored_run):
    assert mirrored_run["params"] > 0


def test_two_multi_worker_processes_train_one_model_and_only_the_chief_writes(tmp_path, mirrored_run):
    workers = "trainer.workers=[" + ",".join(f"127.0.0.1:{p}" for p in free_ports(2)) + "]"
    dirs = [tmp_path / "chief", tmp_path / "worker"]
    procs = []
    for index, cwd in enumerate(dirs):
        cwd.mkdir()
        # both at once: forked from the one server, as run_kopt's kopt is (or two fresh processes)
        procs.append(
            start_kopt(
                "train", *MODEL, "trainer.strategy=multi_worker", workers, f"trainer.task_index={index}", cwd=cwd
            )
        )
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, out + err
    summary = assert_contract(only_run_dir(dirs[0]))
    assert not (dirs[1] / "runs").exists() and list(dirs[1].iterdir()) == []
    # the global batch is split over the two workers, gradients and batch statistics are all-reduced:
    # the same training as one replica
    assert metrics(summary) == pytest.approx(metrics(mirrored_run), rel=1e-3, abs=1e-4)
    assert "completed" in outputs[1][0]  # the worker trained to the end too


def test_multi_worker_config_errors_are_one_line(tmp_path):
    proc = run_kopt("train", *TINY, "trainer.strategy=multi_worker", cwd=tmp_path, env={"TF_CONFIG": ""})
    assert_clean_error(proc, "trainer.workers", "TF_CONFIG")
    proc = run_kopt(
        "train",
        *TINY,
        "trainer.strategy=multi_worker",
        "trainer.workers=[127.0.0.1:1,127.0.0.1:2]",
        "trainer.task_index=2",
        cwd=tmp_path,
    )
    assert_clean_error(proc, "trainer.task_index=2", "0..1")
    proc = run_kopt(
        "train",
        *TINY,
        "trainer.strategy=multi_worker",
        "trainer.workers=[nohostport]",
        "trainer.task_index=0",
        cwd=tmp_path,
    )
    assert_clean_error(proc, "nohostport", "host:port")
    proc = run_kopt("train", *TINY, "trainer.strategy=ring", cwd=tmp_path)
    assert_clean_error(proc, "trainer.strategy", "multi_worker")
    assert not (tmp_path / "runs").exists()
