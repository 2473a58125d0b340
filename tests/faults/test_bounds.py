"""Issue 15.8: bounds and environment faults. Values far beyond any machine, a model too large for
this one, a run whose process died, bad data content, a read-only working folder and a garbled
study summary all cost one clear line (or a warning), never a crash, a hang or a silent run."""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY, kopt_env, read_summary, run_kopt
from faultlib import permissions_enforced, run_unprivileged
from hostile import assert_one_line, finished_run, kopt_in_process

TINY_DATA_IMAGES = ["dataset=synthetic", "dataset.size=200", "trainer.epochs=1"]


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["seed=4294967296"], "seed=4294967296 is out of range"),
        (["trainer.intra_threads=100000"], "trainer.intra_threads=100000 is out of range"),
        (["trainer.inter_threads=5000"], "trainer.inter_threads=5000 is out of range"),
        (["optimizer.lr=inf"], "optimizer.lr=inf is out of range; allowed: a finite number"),
        (["optimizer.lr=-inf"], "optimizer.lr=-inf is out of range"),
        (["optimizer.schedule.warmup_epochs=5", "trainer.epochs=3"], "warmup_epochs=5"),
    ],
    ids=["seed", "intra-threads", "inter-threads", "lr-inf", "lr-minus-inf", "warmup"],
)
def test_values_beyond_any_machine_are_refused(tmp_path, overrides, needle):
    assert_one_line(kopt_in_process("train", *TINY, *overrides, cwd=tmp_path), needle)
    assert not (tmp_path / "runs").exists()


def test_more_tune_workers_than_cores_is_refused(tmp_path):
    cores = len(os.sched_getaffinity(0))
    args = [*TINY, "tuner.n_trials=1", "search.optimizer.lr=interval(1e-3, 1e-2)", f"tuner.n_workers={cores + 1}"]
    assert_one_line(
        kopt_in_process("tune", *args, cwd=tmp_path), f"tuner.n_workers={cores + 1} is out of range", f"1 .. {cores}"
    )
    assert not (tmp_path / "runs").exists()


def test_bootstrap_resamples_are_bounded(tmp_path):
    a = finished_run(tmp_path / "a")
    b = finished_run(tmp_path / "b", shift=0.1)
    assert_one_line(
        kopt_in_process("compare", str(a), str(b), "--resamples", "10000000000", cwd=tmp_path),
        "--resamples",
        "out of range",
    )


def test_a_model_too_large_for_the_memory_is_refused_before_building(tmp_path, monkeypatch):
    import kopt.procs

    monkeypatch.setattr(kopt.procs, "available_memory", lambda: 1 << 30)
    error = assert_one_line(
        kopt_in_process("train", *TINY_DATA_IMAGES, "model=cnn", "model.depth=9", cwd=tmp_path),
        "1,208,998,912 parameters",
        "1.0 GiB",
    )
    assert "GiB" in error.split("needs about")[1]
    assert not (tmp_path / "runs").exists()


def _limit_memory():  # should the check ever fail, building the model fails fast instead of swapping
    resource.setrlimit(resource.RLIMIT_AS, (16 << 30, 16 << 30))


def test_an_absurd_model_is_refused_in_a_real_process(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "kopt", "train", *TINY_DATA_IMAGES, "model=mlp", "model.width=1000000"],
        cwd=tmp_path,
        env=kopt_env(),
        text=True,
        capture_output=True,
        timeout=120,
        preexec_fn=_limit_memory,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "1,000,000,000,000 parameters" in proc.stderr and not (tmp_path / "runs").exists()


def test_a_run_whose_process_died_shows_as_died(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    runs = tmp_path / "runs" / "train"
    for name, pid in (("dead", dead.pid), ("alive", os.getppid())):
        run = finished_run(runs / name)
        summary = json.loads((run / "summary.json").read_text())
        summary.update(status="running", pid=pid, host=socket.gethostname(), started_at=datetime.now().isoformat())
        (run / "summary.json").write_text(json.dumps(summary))
    code, out, err = kopt_in_process("report", "runs", "--csv", "all.csv", cwd=tmp_path)
    assert code == 0, err
    status = {
        Path(row.split(",")[0]).name: row.split(",")[1] for row in (tmp_path / "all.csv").read_text().splitlines()[1:]
    }
    assert status == {"dead": "died", "alive": "running"}


def _write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda d: _write_csv(d / "one.csv", "a,b,label\n1,2,0\n3,4,0\n5,6,0\n7,8,0\n"), "one class only"),
        (
            lambda d: _write_csv(d / "blank.csv", "a,b,label\n1,2,0\n3,4,\n5,6,1\n7,8,1\n"),
            "blank.csv:3: the label column",
        ),
        (
            lambda d: (d / "rnd.npz").write_bytes(np.random.default_rng(0).bytes(300)) and d / "rnd.npz",
            "not a zip file",
        ),
        (
            lambda d: (
                np.savez(d / "f.npz", x_train=np.zeros((6, 2)), y_train=np.array([0, 1, 0, 1, 0, 1.5])) or d / "f.npz"
            ),
            "not logged by a run of dataset.task=regression",  # (fractional labels: a regression target)
        ),
        (lambda d: (d / "folder.npz").mkdir() or d / "folder.npz", "is a folder; give a file"),
        (lambda d: Path(os.devnull), "not a regular file"),
    ],
    ids=["one-class", "empty-label", "random-bytes", "float-labels", "folder", "device"],
)
def test_bad_data_content_is_one_line_before_any_run_dir(tmp_path, make, needle):
    path = make(tmp_path)
    kind = "csv" if path.suffix == ".csv" else "npz"
    # (trainer.monitor=val_accuracy: fractional labels are a regression, which logs no accuracy)
    argv = ["train", f"dataset={kind}", f"dataset.path={path}", "model=mlp", "trainer.epochs=1"]
    error = assert_one_line(kopt_in_process(*argv, "trainer.monitor=val_accuracy", cwd=tmp_path), needle)
    assert "pickled" not in error and "no such file" not in error
    assert not (tmp_path / "runs").exists()


def _image_folder(root: Path, bad: str | None) -> Path:
    from PIL import Image

    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(root / name / f"{i}.png")
    if bad == "not-an-image":
        (root / "dog" / "1.png").write_bytes(os.urandom(64))
    elif bad == "empty-class":
        for f in (root / "dog").iterdir():
            f.unlink()
    elif bad == "one-class":
        shutil.rmtree(root / "dog")
    return root


@pytest.mark.parametrize(
    "bad, needle",
    [
        ("not-an-image", "dog/1.png is not a readable image"),
        ("empty-class", "class folder dog/ holds no images"),
        ("one-class", "needs one sub-folder per class"),
    ],
)
def test_a_bad_images_folder_is_one_line_before_any_run_dir(tmp_path, bad, needle):
    path = _image_folder(tmp_path / "data", bad)
    assert_one_line(
        kopt_in_process(
            "train",
            "dataset=images",
            f"dataset.path={path}",
            "dataset.image_size=[8,8]",
            "model=mlp",
            "trainer.epochs=1",
            cwd=tmp_path,
        ),
        needle,
    )
    assert not (tmp_path / "runs").exists()


def test_a_good_images_folder_passes_the_content_check(tmp_path):
    from kopt.data.files import check_image_folder

    assert check_image_folder(_image_folder(tmp_path / "data", None), "dataset.path") == ["cat", "dog"]


def test_a_read_only_working_folder_for_tune_is_one_line(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if not permissions_enforced(folder):
            pytest.skip("cannot make a folder read-only for this user here")
        proc = run_unprivileged(
            "tune", *TINY, "tuner.n_trials=1", "search.optimizer.lr=interval(1e-3, 1e-2)", cwd=folder, timeout=120
        )
    finally:
        folder.chmod(0o755)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert [line for line in proc.stderr.splitlines() if line.startswith("kopt: error:")] == [
        next(line for line in proc.stderr.splitlines() if "cannot write" in line and "not writable" in line)
    ]


@pytest.mark.slow
def test_a_garbled_study_summary_is_rewritten(tmp_path):
    args = [
        "tune",
        "dataset=synthetic",
        "dataset.size=200",
        "trainer.epochs=1",
        "model=mlp",
        "model.width=8",
        "model.depth=1",
        "tuner.n_trials=1",
        "tuner.study_name=s",
        "search.optimizer.lr=interval(1e-3, 1e-2)",
        "tuner.retrain_best=false",
        "tuner.plots=false",
    ]
    proc = run_kopt(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = tmp_path / "runs" / "tune" / "s" / "summary.json"
    summary.write_text('{"best_trial": [')
    proc = run_kopt(*args, cwd=tmp_path)  # the study is complete: only its reports are written again
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "summary.json: malformed JSON" in proc.stderr and "rewritten" in proc.stderr
    assert read_summary(summary.parent)["study_name"] == "s"
