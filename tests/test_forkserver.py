"""tests/forkserver.py: a `kopt` forked from the preloaded server behaves as a fresh `python -m kopt`."""

from __future__ import annotations

import json
import subprocess
import sys

import kopt_fork
import pytest
from conftest import assert_clean_error, kopt_env, run_kopt
from forkserver import changed, forkable

PROBE = """
import json, os, sys
with open("probe.json", "w") as f:
    json.dump({"env": os.environ.get("KOPT_PROBE"), "cwd": os.getcwd(), "path0": sys.path[0],
               "stdin": sys.stdin.read()}, f)
raise SystemExit(7)
"""


def test_a_fork_gets_its_own_folder_environment_stdin_and_exit_code(tmp_path):
    """The module `kopt` imports from the working folder sees the request's cwd, sys.path and env."""
    (tmp_path / "probe.py").write_text(PROBE)
    forked = kopt_fork.server(kopt_env()).run(
        ["train", "model=custom", "model._target_=probe.build"], tmp_path, kopt_env({"KOPT_PROBE": "x"}), 300
    )
    assert forked is not None, "the server did not fork a request that differs only in a KOPT_ variable"
    seen = json.loads((tmp_path / "probe.json").read_text())
    assert seen == {"env": "x", "cwd": str(tmp_path), "path0": str(tmp_path), "stdin": ""}
    fresh = subprocess.run(
        [sys.executable, "-m", "kopt", "train", "model=custom", "model._target_=probe.build"],
        cwd=tmp_path,
        env=kopt_env({"KOPT_PROBE": "x"}),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert (forked.returncode, forked.stdout) == (fresh.returncode, fresh.stdout)
    assert forked.stderr == fresh.stderr


def test_a_clean_error_reads_the_same_forked_or_fresh(tmp_path):
    forked = run_kopt("train", "trainer.epochs=0", cwd=tmp_path)
    assert_clean_error(forked, "trainer.epochs")
    fresh = subprocess.run(
        [sys.executable, "-m", "kopt", "train", "trainer.epochs=0"],
        cwd=tmp_path,
        env=kopt_env(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)


def test_a_timeout_kills_the_fork_and_raises_as_subprocess_run_does(tmp_path):
    with pytest.raises(subprocess.TimeoutExpired):
        run_kopt("train", "trainer.epochs=500", cwd=tmp_path, timeout=5)
    assert run_kopt("--version", cwd=tmp_path).returncode == 0  # the server serves on


def test_only_variables_read_at_run_time_may_differ():
    base = {"PATH": "/bin", "TF_CPP_MIN_LOG_LEVEL": "3"}
    assert forkable(base, {**base, "KOPT_X": "1", "COLUMNS": "80", "PYTEST_CURRENT_TEST": "t"})
    for key, value in (("KERAS_BACKEND", "jax"), ("KERAS_HOME", "/k"), ("PYTHONPATH", "/p")):
        assert changed(base, {**base, key: value}) == {key}
    assert changed(base, {"PATH": "/bin"}) == {"TF_CPP_MIN_LOG_LEVEL"}  # removed counts (start-up lines shown)
    assert forkable(base, {**base, "TF_CPP_MIN_LOG_LEVEL": "1"})  # another level: as TensorFlow's import sets it


def test_a_run_on_another_keras_backend_gets_a_fresh_process(tmp_path):
    """The server's Keras runs on TensorFlow: a fork asked for JAX would be refused by kopt.backend."""
    server = kopt_fork.server(kopt_env())
    assert server.run(["train", "trainer.backend=jax", "--cfg", "job"], tmp_path, kopt_env(), 300) is None
    assert server.run(["train", "trainer.backend=tensorflow", "--cfg", "job"], tmp_path, kopt_env(), 300) is not None


def test_a_variable_a_test_removes_stays_removed_and_its_run_is_not_forked(tmp_path, monkeypatch):
    """The start-up lines test unsets TF_CPP_MIN_LOG_LEVEL; popped from kopt_env() it came back from
    run_kopt's own kopt_env(), at 1 in a test process that had imported TensorFlow, and was forked."""
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")  # as TensorFlow's import leaves it in this process
    env = kopt_env({"TF_CPP_MIN_LOG_LEVEL": None})
    assert "TF_CPP_MIN_LOG_LEVEL" not in env
    assert kopt_fork.server(kopt_env()).run(["--version"], tmp_path, env, 60) is None
