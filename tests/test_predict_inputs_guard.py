"""kopt predict, export and their inputs refuse what is not what it claims, in one line.

Two tiny runs are trained once, in this process: a CNN on scikit-learn's digits (whose images
change class when mirrored) and an MLP on iris (a bundled tabular set with named features).
Inputs that would hang, allocate without bound or give NaN probabilities, model files that lead
outside their run dir or hold code, ensemble weights that cannot be a mean, a full disk and
clashing output paths each end as one error line, with nothing half-written left."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import threading

import numpy as np
import pytest
from conftest import assert_clean_error, run_kopt, start_kopt, wait_for

from kopt.errors import KoptError, RunFailed

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.xdist_group("usemodel_guard")

DIGITS = ["dataset=digits", "dataset.limit=200", "model=cnn", "model.width=4", "model.dense=0", "trainer.epochs=1"]
IRIS = ["dataset=iris", "model=mlp", "model.width=8", "model.depth=1", "trainer.epochs=1"]


def _train(overrides, run_dir):
    from kopt.compose import compose_and_validate
    from kopt.training.run import run_train
    from kopt.validate import validate_train

    cfg = compose_and_validate(overrides, "config", validators=[validate_train])[1][0]
    assert run_train(cfg, run_dir, quiet=True)["status"] == "completed"
    return cfg


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("guard")
    _train(DIGITS, root / "digits")
    _train(IRIS, root / "iris")
    return {"root": root, "digits": root / "digits", "iris": root / "iris"}


def _predict(*argv):
    from kopt.commands.predict import main

    main([str(a) for a in argv])


def _export(*argv):
    from kopt.commands.export import main

    main([str(a) for a in argv])


def _probs(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return np.array([[float(v) for v, h in zip(r, rows[0]) if h.startswith("prob_")] for r in rows[1:]])


def _iris():
    from sklearn.datasets import load_iris

    bunch = load_iris()
    return bunch.data.astype("float32"), list(bunch.feature_names)


# ------------------------------------------------------------------------- 1: flips of digits


def test_trainer_tta_with_flips_is_refused_on_digits_before_any_run_dir(tmp_path):
    from kopt.compose import compose_and_validate
    from kopt.validate import validate_train

    for mode in ("flip", "flip+crop"):
        with pytest.raises(
            KoptError, match=rf"trainer.tta={re.escape(mode)}: .*dataset=digits.*mirrored.*allowed: none, crop"
        ):
            compose_and_validate([*DIGITS, f"trainer.tta={mode}"], "config", validators=[validate_train])
    compose_and_validate([*DIGITS, "trainer.tta=crop"], "config", validators=[validate_train])
    assert not (tmp_path / "runs").exists()


def test_predict_tta_with_flips_is_refused_for_a_digits_run(runs, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 8, 8, 1), "float32"))
    with pytest.raises(KoptError, match=r"--tta=flip: .*dataset=digits.*mirrored.*allowed: none, crop"):
        _predict(runs["digits"], tmp_path / "x.npy", "--tta", "flip", "--out", tmp_path / "p.csv")
    assert not (tmp_path / "p.csv").exists()
    _predict(runs["digits"], tmp_path / "x.npy", "--tta", "crop", "--out", tmp_path / "p.csv")
    assert _probs(tmp_path / "p.csv").shape == (4, 10)


# ------------------------------------------------------------------ 2: inputs that are not files


def _read_inputs(run, *items, timeout=60):
    """read_inputs in a thread: a FIFO would block it forever (the test fails instead of hanging)."""
    from kopt.predict.inputs import read_inputs
    from kopt.predict.source import resolve

    source = resolve(str(run))
    shape = (8, 8, 1) if run.name == "digits" else (4,)
    result = {}

    def target():
        try:
            result["inputs"] = read_inputs([str(i) for i in items], source, shape)
        except BaseException as exc:  # handed to the test
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        for item in items:  # unblock a reader stuck on a FIFO
            if os.path.exists(item) and not os.path.isfile(item) and not os.path.isdir(item):
                try:
                    os.close(os.open(item, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:
                    pass
        pytest.fail(f"reading {items} did not finish in {timeout} s")
    if "error" in result:
        raise result["error"]
    return result["inputs"]


def test_an_image_input_that_is_a_fifo_or_a_device_is_refused_without_blocking(runs, tmp_path):
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    with pytest.raises(KoptError, match=r"fifo.png: a FIFO, not a file"):
        _read_inputs(runs["digits"], fifo)
    (tmp_path / "null.png").symlink_to("/dev/null")
    with pytest.raises(KoptError, match=r"null.png: a device, not a file"):
        _read_inputs(runs["digits"], tmp_path / "null.png")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "dev.png").symlink_to("/dev/zero")
    with pytest.raises(KoptError, match=r"dev.png: a device, not a file"):
        _read_inputs(runs["digits"], folder)


def test_an_array_or_csv_input_that_is_a_fifo_is_named_as_one(runs, tmp_path):
    for name in ("x.npy", "x.npz", "x.csv"):
        os.mkfifo(tmp_path / name)
        with pytest.raises(KoptError, match=rf"INPUT .*{re.escape(name)}: a FIFO, not a file; not read"):
            _read_inputs(runs["iris"], tmp_path / name)


def test_an_image_input_over_the_size_bound_is_refused(runs, tmp_path, monkeypatch):
    import kopt.predict.inputs

    monkeypatch.setattr(kopt.predict.inputs, "MAX_IMAGE_BYTES", 1000)
    (tmp_path / "big.png").write_bytes(b"\x89PNG" + b"\0" * 2000)
    with pytest.raises(KoptError, match=r"big.png: 2004 bytes, more than the 1000"):
        _read_inputs(runs["digits"], tmp_path / "big.png")


def _npy_header(path, shape, dtype="<f8"):
    """An .npy file whose header claims ``shape`` but which holds 16 bytes of data."""
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": dtype, "fortran_order": False, "shape": shape})
        fh.write(b"\0" * 16)


def test_an_npy_whose_header_claims_more_than_it_holds_is_refused_before_loading(runs, tmp_path):
    _npy_header(tmp_path / "huge.npy", (10**12, 4))
    with pytest.raises(KoptError, match=r"huge.npy: .*claims 32000000000000 bytes"):
        _read_inputs(runs["iris"], tmp_path / "huge.npy")
    _npy_header(tmp_path / "short.npy", (1000, 4))
    with pytest.raises(KoptError, match=r"short.npy: .*claims 32000 bytes"):
        _read_inputs(runs["iris"], tmp_path / "short.npy")
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(KoptError, match=r"empty.npy: .*unreadable"):
        _read_inputs(runs["iris"], tmp_path / "empty.npy")


def test_a_0d_ids_array_is_refused(runs, tmp_path):
    np.savez(tmp_path / "x.npz", x=np.zeros((3, 4), "float32"), ids=np.array(7))
    with pytest.raises(KoptError, match=r"x.npz\[ids\]: a 0-d array; give one id per example"):
        _read_inputs(runs["iris"], tmp_path / "x.npz")


def test_values_that_overflow_float32_and_complex_values_are_refused(runs, tmp_path):
    x = np.ones((3, 4))
    x[1, 2] = 1e39
    np.save(tmp_path / "big.npy", x)
    with pytest.raises(KoptError, match=r"big.npy: 1 example\(s\) have NaN/inf values as float32 \(first: 1\)"):
        _predict(runs["iris"], tmp_path / "big.npy", "--out", tmp_path / "p.csv")
    assert not (tmp_path / "p.csv").exists()
    np.save(tmp_path / "complex.npy", np.ones((3, 4), "complex64"))
    with pytest.raises(KoptError, match=r"complex.npy: values have dtype complex64; expected real numbers"):
        _read_inputs(runs["iris"], tmp_path / "complex.npy")


# -------------------------------------------------------------------- 3: columns matched by name


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        out.writerows(rows)


def test_a_bundled_tabular_runs_csv_columns_are_matched_by_name(runs, tmp_path):
    x, names = _iris()
    x = x[::10]
    _write_csv(tmp_path / "plain.csv", names, x.tolist())
    order = [2, 0, 3, 1]
    _write_csv(tmp_path / "shuffled.csv", [names[j] for j in order], x[:, order].tolist())
    short = ["petal_length", "sepal_length", "petal_width", "sepal_width"]  # units dropped, _ for spaces
    _write_csv(tmp_path / "short.csv", short, x[:, order].tolist())
    _predict(runs["iris"], tmp_path / "plain.csv", "--out", tmp_path / "plain.out.csv")
    _predict(runs["iris"], tmp_path / "shuffled.csv", "--out", tmp_path / "shuffled.out.csv")
    _predict(runs["iris"], tmp_path / "short.csv", "--out", tmp_path / "short.out.csv")
    plain = _probs(tmp_path / "plain.out.csv")
    np.testing.assert_allclose(_probs(tmp_path / "shuffled.out.csv"), plain, atol=1e-6)
    np.testing.assert_allclose(_probs(tmp_path / "short.out.csv"), plain, atol=1e-6)
    _write_csv(tmp_path / "other.csv", ["a", "b", "c", "d"], x.tolist())
    with pytest.raises(
        KoptError, match=r"other.csv: feature columns differ from dataset=iris's \(sepal length \(cm\), "
    ):
        _predict(runs["iris"], tmp_path / "other.csv", "--out", tmp_path / "o.csv")


# ---------------------------------------------------------------------------------- 4: full disk


@pytest.fixture
def full_disk(tmp_path_factory):
    """A small tmpfs with one page (4 KiB) left: the 4 KiB probe passes, a model and its card do not fit."""
    disk = tmp_path_factory.mktemp("disk")
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)]).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root and mount permission)")
    try:
        filler = disk / "filler"
        with open(filler, "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\0" * 4096)
            except OSError:
                pass
        os.truncate(filler, filler.stat().st_size - 4096)
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _left(disk):
    return sorted(p.name for p in disk.iterdir() if p.name != "filler")


@pytest.mark.parametrize("fmt", ["keras", "saved_model", "onnx", "litert"])
def test_a_full_disk_during_export_is_one_line_and_leaves_nothing(runs, full_disk, fmt):
    if fmt == "onnx":
        pytest.importorskip("tf2onnx")
    with pytest.raises(RunFailed, match=r"I/O error on .*out: No space left on device; nothing was written"):
        _export(runs["iris"], "--format", fmt, "--out", full_disk / "out")
    assert _left(full_disk) == []


def test_a_full_disk_during_predict_and_report_plot_is_one_line_and_leaves_nothing(runs, full_disk, tmp_path):
    from kopt.commands.report import main as report

    x, _ = _iris()
    np.save(tmp_path / "x.npy", np.repeat(x, 20, axis=0))
    with pytest.raises(RunFailed, match=r"I/O error on .*p.csv: No space left on device"):
        _predict(runs["iris"], tmp_path / "x.npy", "--out", full_disk / "sub" / "p.csv")
    assert _left(full_disk) == []
    with pytest.raises(RunFailed, match=r"I/O error on .*r.png: No space left on device"):
        report([str(runs["iris"]), "--plot", str(full_disk / "r.png")])
    assert _left(full_disk) == []


def test_a_full_disk_during_kopt_ensemble_is_one_line_and_leaves_nothing(runs, full_disk, tmp_path):
    from kopt.commands.ensemble import main as ensemble

    twin = _copy_run(runs["iris"], tmp_path / "twin")  # the same data, split and test set
    with pytest.raises(RunFailed, match=r"I/O error on .*ens: No space left on device; nothing was written"):
        ensemble([str(runs["iris"]), str(twin), "--out", str(full_disk / "ens")])
    assert _left(full_disk) == []
    (tmp_path / "file").write_text("mine")
    with pytest.raises(KoptError, match=r"--out .*file: is a file; give a folder"):
        ensemble([str(runs["iris"]), str(twin), "--out", str(tmp_path / "file")])
    assert (tmp_path / "file").read_text() == "mine"


# ------------------------------------------------------------------------------- 5: output paths


def test_predict_out_naming_a_folder_is_refused_before_tensorflow(runs, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 4), "float32"))
    (tmp_path / "folder").mkdir()
    with pytest.raises(KoptError, match=r"--out .*folder: is a folder; give a CSV file name"):
        _predict(runs["iris"], tmp_path / "x.npy", "--out", tmp_path / "folder")


def test_an_export_beaten_to_its_out_folder_is_one_line_and_keeps_the_others(runs, tmp_path, monkeypatch):
    import kopt.commands.export

    real = kopt.commands.export.write
    out = tmp_path / "out"

    def racing(model, fmt, folder):  # the other export renames its folder into place meanwhile
        real(model, fmt, folder)
        out.mkdir()
        (out / "model.keras").write_text("the other export's")

    monkeypatch.setattr(kopt.commands.export, "write", racing)
    with pytest.raises(KoptError, match=r"--out .*out: another export wrote it meanwhile; nothing was overwritten"):
        _export(runs["iris"], "--out", out)
    assert (out / "model.keras").read_text() == "the other export's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_killed_exports_temp_folder_is_cleaned_by_the_next_export(runs, tmp_path):
    proc = start_kopt("export", str(runs["iris"]), "--format", "saved_model", "--out", "a", cwd=tmp_path)
    try:
        temp = wait_for(
            lambda: [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")], 300, "the temp folder", 0.01
        )
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert temp[0].is_dir() and not (tmp_path / "a").exists()
    (tmp_path / ".b.1.tmp").mkdir()  # not an export's: left alone
    _export(runs["iris"], "--out", tmp_path / "b")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.1.tmp", "b"]


# --------------------------------------------------------------------- 6, 7: the model files


def _copy_run(run, dest):
    shutil.copytree(run, dest, symlinks=True)
    return dest


def test_a_lambda_layer_refused_by_safe_mode_is_one_line(runs, tmp_path):
    import keras

    run = _copy_run(runs["iris"], tmp_path / "run")
    inp = keras.Input((4,))
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Lambda(lambda v: v * 2.0)(inp))
    keras.Model(inp, out).save(run / "model.keras")
    np.save(tmp_path / "x.npy", np.zeros((2, 4), "float32"))
    with pytest.raises(KoptError, match=r"model.keras: refused by safe mode: .*Lambda.*no code from it ran"):
        _predict(run, tmp_path / "x.npy", "--out", tmp_path / "p.csv")
    with pytest.raises(KoptError, match=r"model.keras: refused by safe mode: .*Lambda.*no code from it ran"):
        _export(run, "--out", tmp_path / "out")
    proc = run_kopt("predict", str(run), "x.npy", "--out", "p.csv", cwd=tmp_path)  # as a user sees it
    assert_clean_error(proc, "model.keras: refused by safe mode", "no code from it ran")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "x.npy"]


def test_a_model_keras_that_links_outside_its_run_dir_is_refused(runs, tmp_path):
    run = _copy_run(runs["iris"], tmp_path / "run")
    (run / "model.keras").rename(tmp_path / "elsewhere.keras")
    (run / "model.keras").symlink_to(tmp_path / "elsewhere.keras")
    np.save(tmp_path / "x.npy", np.zeros((2, 4), "float32"))
    with pytest.raises(KoptError, match=r"model.keras: a link that leads outside .*run; not followed"):
        _predict(run, tmp_path / "x.npy", "--out", tmp_path / "p.csv")
    with pytest.raises(KoptError, match=r"model.keras: a link that leads outside .*run; not followed"):
        _export(run, "--out", tmp_path / "out")
    inside = _copy_run(runs["iris"], tmp_path / "inside")  # a link inside the run dir is fine
    (inside / "model.keras").rename(inside / "real.keras")
    (inside / "model.keras").symlink_to("real.keras")
    _predict(inside, tmp_path / "x.npy", "--out", tmp_path / "p.csv")
    assert _probs(tmp_path / "p.csv").shape == (2, 3)


# ------------------------------------------------------------------------ 8: ensemble weights


def _ensemble(tmp_path, run, weights, name):
    folder = tmp_path / name
    folder.mkdir()
    members = [{"run_dir": str(run), "fold": None, "weight": w} for w in weights]
    (folder / "ensemble.json").write_text(json.dumps({"method": "weighted", "members": members}))
    return folder


def test_ensemble_weights_that_are_no_mean_are_refused(runs, tmp_path):
    from kopt.predict.source import resolve

    np.save(tmp_path / "x.npy", np.zeros((2, 4), "float32"))
    folder = _ensemble(tmp_path, runs["iris"], [1.0, -1.0], "negative")
    with pytest.raises(KoptError, match=r"ensemble.json: member 1 has weight -1.0; allowed: finite numbers >= 0"):
        _predict(folder, tmp_path / "x.npy", "--out", tmp_path / "p.csv")
    assert not (tmp_path / "p.csv").exists()
    with pytest.raises(KoptError, match=r"ensemble.json: member 0 has weight nan; allowed: finite numbers >= 0"):
        resolve(str(_ensemble(tmp_path, runs["iris"], [float("nan"), 1.0], "nan")))
    with pytest.raises(KoptError, match=r"ensemble.json: the members' weights sum to 0; allowed: a sum > 0"):
        resolve(str(_ensemble(tmp_path, runs["iris"], [0.0, 0.0], "zero")))
    with pytest.raises(KoptError, match=r"ensemble.json: member 0 has weight True; allowed: finite numbers >= 0"):
        resolve(str(_ensemble(tmp_path, runs["iris"], [True, 1.0], "bool")))
    source = resolve(str(_ensemble(tmp_path, runs["iris"], [0.0, 2.0], "fine")))
    assert [m.weight for m in source.members] == [0.0, 2.0]
