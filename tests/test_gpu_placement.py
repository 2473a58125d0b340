"""`tuner.n_workers=N` on a machine with several GPUs: one worker per visible device
(CUDA_VISIBLE_DEVICES per worker). The assignment is a pure function, tested without a GPU."""

from __future__ import annotations

import subprocess

import pytest

from kopt.tune.running import workers


@pytest.mark.parametrize(
    "visible, n, expected",
    [
        (["0", "1", "2", "3"], 4, ["0", "1", "2", "3"]),
        (["0", "1", "2", "3"], 2, ["0", "1"]),
        (["0", "1"], 5, ["0", "1", "0", "1", "0"]),  # more workers than GPUs: they share, in turn
        (["2", "5"], 2, ["2", "5"]),  # the user's own CUDA_VISIBLE_DEVICES subset
        (["GPU-aa", "GPU-bb"], 2, ["GPU-aa", "GPU-bb"]),  # UUIDs pass through
        ([], 3, [None, None, None]),  # no GPU: the environment is left alone
    ],
)
def test_gpu_assignment(visible, n, expected):
    assert workers.gpu_assignment(visible, n) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("0,1,2", ["0", "1", "2"]),
        (" 3 , 1 ", ["3", "1"]),
        ("", []),
        ("-1", []),
        ("GPU-aa,GPU-bb", ["GPU-aa", "GPU-bb"]),
    ],
)
def test_visible_gpus_follow_cuda_visible_devices(value, expected):
    probed = []
    assert workers.visible_gpus({"CUDA_VISIBLE_DEVICES": value}, probe=lambda: probed.append(1) or ["9"]) == expected
    assert not probed  # the variable wins over nvidia-smi


def test_visible_gpus_without_the_variable_ask_the_driver():
    assert workers.visible_gpus({}, probe=lambda: ["0", "1"]) == ["0", "1"]


@pytest.mark.parametrize("fork_server", [True, False])
def test_each_spawned_worker_gets_its_gpu(monkeypatch, tmp_path, fork_server):
    """Forked (the environment laid over the server's in the child) or fresh (a Popen's env)."""
    from kopt.tune.running import forked

    seen = []

    class FakePopen:
        def __init__(self, cmd, env, **kwargs):
            seen.append(env)

    monkeypatch.setattr(subprocess, "Popen", FakePopen)

    def start(target, args, backend):
        if not fork_server:
            return None  # (no fork server here: the worker starts fresh)
        seen.append(args[1])
        return object()

    monkeypatch.setattr(forked, "start", start)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    for i, gpu in enumerate(workers.gpu_assignment(["0", "1"], 3)):
        workers.spawn("journal.log", "s", tmp_path, i, 1, 0.0, gpu)
    workers.spawn("journal.log", "s", tmp_path, 3, 1, 0.0, None)
    assert [e.get("CUDA_VISIBLE_DEVICES") for e in seen] == ["0", "1", "0", None]
    assert seen[0]["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
