"""Packages that add options (the ``kopt.plugins`` entry points): examples/plugin, pip-installed into
a folder of its own, makes ``model=tinynet`` a choice with its schema, its YAML and its builder."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, TINY_DATA, assert_clean_error, read_summary, run_kopt

EXAMPLE = ROOT / "examples" / "plugin"


def _install(src: Path, target: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            ".",
        ],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder where `pip install` put the example plugin (its module, YAML and entry point)."""
    base = tmp_path_factory.mktemp("plugin")
    src = base / "src"
    shutil.copytree(EXAMPLE, src)
    _install(src, base / "site")
    assert list((base / "site").glob("mynets_kopt-*.dist-info/entry_points.txt"))
    return base / "site"


def with_plugin(site: Path) -> dict:
    """The environment of a kopt that sees the plugin (whatever else PYTHONPATH held: make test-fast's guard)."""
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(site), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}


def test_a_plugin_model_is_a_choice_that_trains_with_its_own_keys(site, tmp_path):
    proc = run_kopt(
        "train", *TINY_DATA, "trainer.epochs=1", "model=tinynet", "model.units=8", cwd=tmp_path, env=with_plugin(site)
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = next((tmp_path / "runs" / "train").iterdir())
    summary = read_summary(run_dir)
    assert summary["status"] == "completed"
    assert summary["choices"]["model"] == "tinynet"
    features, classes = math.prod(summary["data"]["input_shape"]), summary["data"]["classes"]
    assert summary["params"] == (features + 1) * 8 + (8 + 1) * classes  # its builder, with model.units=8


def test_a_plugin_schema_checks_its_keys_and_its_yaml_gives_the_defaults(site, tmp_path):
    bad = run_kopt("train", *TINY_DATA, "model=tinynet", "model.units=0", cwd=tmp_path, env=with_plugin(site))
    assert_clean_error(bad, "model.units=0", ">= 1")
    shown = run_kopt("train", "model=tinynet", "--cfg", "job", cwd=tmp_path, env=with_plugin(site))
    assert shown.returncode == 0, shown.stderr
    assert "name: tinynet\n  units: 32" in shown.stdout
    assert not (tmp_path / "runs").exists()


def test_kopt_models_lists_a_plugin_model(site, tmp_path):
    # the table of every option, on tabular input: the image presets are listed as refused, unbuilt
    # (the plugin's row is what this test reads; their sizes are tests/test_zoo_cli.py's)
    proc = run_kopt("models", "dataset=synthetic", "dataset.shape=[20]", cwd=tmp_path, env=with_plugin(site))
    assert proc.returncode == 0, proc.stderr
    (row,) = [line.split() for line in proc.stdout.splitlines() if line.split()[:1] == ["tinynet"]]
    assert row[3] == f"{(20 + 1) * 32 + (32 + 1) * 10:,}", row  # built by the plugin's builder, model.units=32


def test_without_the_plugin_the_option_is_unknown(tmp_path):
    proc = run_kopt("train", *TINY_DATA, "model=tinynet", cwd=tmp_path)
    assert_clean_error(proc, "model=tinynet")


def test_a_plugin_that_fails_to_import_is_one_line(site, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(site, broken)
    (broken / "mynets_kopt" / "__init__.py").write_text("raise RuntimeError('half-installed')\n")
    proc = run_kopt("train", *TINY_DATA, "model=mlp", cwd=tmp_path, env=with_plugin(broken))
    assert_clean_error(proc, "kopt plugin 'mynets'", "half-installed", "pip uninstall mynets-kopt")
    assert not (tmp_path / "runs").exists()


def _dist(folder: Path, name: str, entry_points: str | None) -> None:
    info = folder / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    if entry_points is not None:
        (info / "entry_points.txt").write_text(entry_points)


def test_the_plugin_scan_reads_only_entry_point_files_when_no_package_declares_the_group(tmp_path, monkeypatch):
    """No distribution declares kopt.plugins: kopt finds no plugin without importing importlib.metadata
    (about 30 ms of every start); one that declares it is found through importlib.metadata."""
    from kopt import plugins

    site = tmp_path / "site"
    _dist(site, "other", "[console_scripts]\nother = other:main\n")
    _dist(site, "bare", None)
    monkeypatch.setattr(sys, "path", [str(site)])
    standard = ("BuiltinImporter", "FrozenImporter", "PathFinder")  # not a test plugin's import hook
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if getattr(f, "__name__", "") in standard])
    assert plugins._may_declare_plugins() is False
    assert plugins.entry_points() == []
    _dist(site, "mine", "[kopt.plugins]\nmine = mine_kopt\n")
    assert plugins._may_declare_plugins() is True
    import importlib.metadata

    asked = []  # then importlib.metadata decides (the plugin tests above install a real one)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: asked.append(group) or [])
    assert plugins.entry_points() == [] and asked == ["kopt.plugins"]
    archive = tmp_path / "lib.zip"
    archive.write_bytes(b"")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "empty"), str(archive)])
    assert plugins._may_declare_plugins() is True  # an archive's metadata is importlib.metadata's to read
    monkeypatch.setattr(sys, "path", [str(tmp_path / "empty")])
    assert plugins._may_declare_plugins() is False

    class Serves:  # an import hook that serves distributions of its own (a zipapp's, a bundler's)
        def find_distributions(self, context=None):
            return iter(())

    monkeypatch.setattr(sys, "meta_path", [Serves(), *sys.meta_path])
    assert plugins._may_declare_plugins() is True


def test_kopt_without_plugins_never_imports_importlib_metadata(tmp_path):
    code = (
        "import sys, runpy; sys.argv = ['kopt', 'train', '--cfg', 'job']\n"
        "try:\n    runpy.run_module('kopt', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "sys.stderr.write('METADATA=%s' % ('importlib.metadata' in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert "METADATA=False" in proc.stderr, proc.stderr[-2000:]
