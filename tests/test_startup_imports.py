"""The quick paths load no heavy library: `kopt train --cfg job` and `kopt tune --cfg job` compose,
validate and print without numpy, Optuna, scikit-learn or TensorFlow (issue 21: start-up). Each of
them costs 0.1-1.5 s to import; benchmarks/startup.py times the commands themselves."""

from __future__ import annotations

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
