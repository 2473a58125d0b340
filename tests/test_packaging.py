"""A non-editable install ships the configs: `kopt` works from any folder without the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest
from conftest import ROOT


@pytest.mark.service
def test_wheel_ships_configs_and_runs_outside_the_checkout(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    # setuptools' warnings name what it will stop doing: a deprecated `license` table (an error from
    # 2027-02-18 on) and config folders it would leave out of the wheel ("Package would be ignored")
    assert "Warning" not in build.stderr, build.stderr[-3000:]
    (wheel,) = wheels.glob("kopt-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "kopt/configs/config.yaml" in names and "kopt/configs/model/cnn.yaml" in names
    assert not any(n.startswith("configs/") for n in names)

    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = "import kopt, sys; print(kopt.__file__); from kopt.cli import main; main(['train', '--cfg', 'job', 'model=mlp'])"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert str(site) in proc.stdout.splitlines()[0]
    assert "name: mlp" in proc.stdout
    assert (site / "bin" / "kopt").is_file()
