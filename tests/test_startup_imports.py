"""The quick paths load no heavy library: `kopt train --cfg job` and `kopt tune --cfg job` compose,
validate and print without numpy, Optuna, scikit-learn or TensorFlow (issue 21: start-up). Each of
them costs 0.1-1.5 s to import; benchmarks/startup.py times the commands themselves."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from conftest import kopt_env

HEAVY = ("numpy", "optuna", "sklearn", "scipy", "tensorflow", "keras", "jax", "torch", "matplotlib")

PROBE = """
import contextlib, io, json, sys
from kopt.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main({argv!r})
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
print(json.dumps({{"code": code, "loaded": [m for m in {heavy!r} if m in sys.modules]}}))
"""


@pytest.mark.parametrize(
    "argv",
    [["train", "--cfg", "job"], ["tune", "--cfg", "job"], ["--help"], ["train", "model=nope"]],
    ids=["train-cfg", "tune-cfg", "help", "config-error"],
)
def test_quick_paths_import_no_heavy_library(argv, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        cwd=tmp_path,
        env=kopt_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] in (0, 2, None), result  # --help and a config error exit; --cfg prints
    assert result["loaded"] == [], f"{' '.join(argv)} imported {result['loaded']}"


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed (the jax extra)")
def test_tensorflow_is_imported_without_jax_on_the_tensorflow_backend(tmp_path):
    """kopt.runtime.no_jax_on_tensorflow: with JAX installed, tf.lite and Keras' Orbax callback
    imported it along with TensorFlow and Keras, for nothing kopt uses (~105 MiB, 0.3-1 CPU s of a
    fresh process). Left out on TensorFlow, and importable afterwards as ever (on the JAX backend,
    Keras imports it first: tests/test_backends.py)."""
    code = """
import json, sys
from kopt.runtime import import_tensorflow
import_tensorflow(backend="tensorflow")
import keras
first = "jax" in sys.modules
import jax
print(json.dumps({"jax_with_tensorflow": first, "backend": keras.config.backend(), "jax": jax.__name__,
                  "finders": [type(f).__name__ for f in sys.meta_path]}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=kopt_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["jax_with_tensorflow"] is False
    assert result["backend"] == "tensorflow" and result["jax"] == "jax"
    assert "_NoJaxOnTensorFlow" not in result["finders"]  # (gone once TensorFlow is imported)
