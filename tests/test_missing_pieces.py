"""Every missing piece is one line: an extra that is not installed, an MLflow server that does not
answer, an option given as --flag. (tests/smoke/plain_install.sh checks the extras again on a real
plain install; here they are made unimportable in the dev venv.)"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from conftest import TINY, assert_clean_error, kopt_env, run_kopt


def kopt_without(modules: list[str], *args: str, cwd) -> subprocess.CompletedProcess:
    """`kopt ARGS` in a process where ``modules`` cannot be imported, as on an install without the extra."""
    code = f"import sys\nfor m in {modules!r}: sys.modules[m] = None\nfrom kopt.cli import main\nmain({list(args)!r})"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=kopt_env(),
        text=True,
        capture_output=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def test_launcher_without_its_plugin_names_the_extra(tmp_path):
    # a plain install has no hydra_plugins package at all
    proc = kopt_without(["hydra_plugins"], "train", "-m", "hydra/launcher=joblib", "seed=0,1", cwd=tmp_path)
    assert_clean_error(proc, "hydra/launcher=joblib", "pip install 'kopt[joblib]'", "pip install '.[joblib]'")
    proc = kopt_without(["hydra_plugins"], "train", "-m", "hydra/launcher=slurm", "seed=0,1", cwd=tmp_path)
    assert_clean_error(proc, "kopt[slurm]")
    assert not (tmp_path / "runs").exists()


def test_postgres_storage_without_a_driver_names_the_extra(tmp_path):
    proc = kopt_without(
        ["psycopg2", "psycopg"],
        "tune",
        "tuner.n_trials=1",
        "tuner.study_name=pg",
        "tuner.storage=postgresql://kopt:x@127.0.0.1:9/kopt",
        cwd=tmp_path,
    )
    assert_clean_error(proc, "psycopg", "kopt[distributed]")


@pytest.mark.parametrize(
    "args, suggestion",
    [
        (["train", "--epochs", "5"], "trainer.epochs=5"),
        (["train", "--batch-size=64"], "trainer.batch_size=64"),
        (["tune", "--n-trials", "3"], "tuner.n_trials=3"),
    ],
)
def test_a_flag_named_like_a_config_key_suggests_the_key(tmp_path, args, suggestion):
    proc = run_kopt(*args, cwd=tmp_path)
    assert_clean_error(proc, args[1].split("=")[0], f"did you mean {suggestion}?")
    assert not (tmp_path / "runs").exists()


def test_an_unknown_flag_without_a_near_key_is_one_line(tmp_path):
    assert_clean_error(run_kopt("train", "--frobnicate", cwd=tmp_path), "--frobnicate: unknown option")


def test_unreachable_mlflow_server_fails_fast_in_one_line(tmp_path):
    pytest.importorskip("mlflow", reason="logger=mlflow needs the optional mlflow extra")
    t0 = time.monotonic()
    proc = run_kopt(
        "train", *TINY, "logger=mlflow", "logger.tracking_uri=http://127.0.0.1:9", cwd=tmp_path, timeout=200
    )
    elapsed = time.monotonic() - t0
    assert_clean_error(proc, "logger.tracking_uri=http://127.0.0.1:9", "no MLflow server")
    # MLflow's own retries took about 250 s; the probe answers at once (the rest is TensorFlow's start-up)
    assert elapsed < 120, elapsed
