"""kopt predict on every input kind, kopt export to every format, and test-time augmentation.

Two tiny runs are trained once, in this process: a 2-fold CNN on 8x8 one-channel images with
trainer.tta=flip, and an MLP on a CSV. Predictions on the runs' own test rows must reproduce
predictions.npz (the fold models averaged)."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from conftest import TINY_DATA, assert_clean_error, run_kopt

from kopt.errors import KoptError

pytest.importorskip("tensorflow")
# one worker trains the module's two runs once (make test runs --dist loadgroup)
pytestmark = pytest.mark.xdist_group("usemodel")

IMAGE = [
    *TINY_DATA,
    "dataset.size=120",
    "model=cnn",
    "model.width=4",
    "model.dense=0",
    "split=kfold",
    "split.k=2",
    "trainer.epochs=1",
    "trainer.tta=flip",
]
FEATURES = ["petal", "sepal", "stem"]


def _train(overrides, run_dir):
    from kopt.compose import compose_and_validate
    from kopt.training.run import run_train
    from kopt.validate import validate_train

    cfg = compose_and_validate(overrides, "config", validators=[validate_train])[1][0]
    summary = run_train(cfg, run_dir, quiet=True)
    assert summary["status"] == "completed"
    return cfg


def _write_csv(path, rows, header):
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        out.writerows(rows)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The two runs, and every call of kopt.tta.average during the image run's training."""
    import kopt.tta
    from kopt.data.datasets import load_dataset

    root = tmp_path_factory.mktemp("usemodel")
    calls = []
    original = kopt.tta.average

    def spy(predict, x, mode):
        passes = []

        def counted(view):
            passes.append(len(view))
            return predict(view)

        probs = original(counted, x, mode)
        calls.append({"x": np.array(x), "mode": mode, "passes": passes, "probs": probs})
        return probs

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kopt.tta, "average", spy)
        image_cfg = _train(IMAGE, root / "image")
    rng = np.random.default_rng(0)
    labels = np.array(["a", "b", "c"])[np.arange(90) % 3]
    x = rng.normal(size=(90, 3)) + (np.arange(90) % 3)[:, None]
    _write_csv(root / "train.csv", [[*map(float, row), lab] for row, lab in zip(x, labels)], [*FEATURES, "kind"])
    _train(
        [
            "dataset=csv",
            f"dataset.path={root / 'train.csv'}",
            "dataset.label=kind",
            "model=mlp",
            "model.width=8",
            "model.depth=1",
            "trainer.epochs=1",
        ],
        root / "tabular",
    )
    data = load_dataset(image_cfg.dataset, int(image_cfg.seed))
    return {"root": root, "image": root / "image", "tabular": root / "tabular", "calls": calls, "data": data}


def _predict(*argv):
    from kopt.commands.predict import main

    main([str(a) for a in argv])


def _read(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    probs = np.array([[float(v) for v, h in zip(r, header) if h.startswith("prob_")] for r in rows[1:]])
    return header, rows[1:], probs


def _npz(run):
    with np.load(run / "predictions.npz") as z:
        return {k: z[k] for k in z.files}


# ------------------------------------------------------------------------------------------- TTA


def test_tta_views_passes_and_tabular_refusal():
    from kopt import tta

    x = np.arange(2 * 8 * 8, dtype="float32").reshape(2, 8, 8, 1)
    calls = []

    def predict(view):  # depends on the left/right order of the pixels: a flip changes it
        calls.append(view.copy())
        left = view[:, :, :4].mean(axis=(1, 2, 3))
        return np.stack([left, 100 - left], axis=1) / 100

    plain = tta.average(predict, x, "none")
    assert len(calls) == 1
    for mode, passes in (("flip", 2), ("crop", 5), ("flip+crop", 6)):
        calls.clear()
        probs = tta.average(predict, x, mode)
        assert len(calls) == passes == tta.n_views(mode)
        assert all(c.shape == x.shape for c in calls)
        assert not np.allclose(probs, plain)
    assert np.array_equal(calls[1], x[:, :, ::-1])
    with pytest.raises(KoptError, match="trainer.tta=flip.*tabular"):
        tta.average(predict, np.zeros((3, 4), "float32"), "flip")


def test_trainer_tta_on_a_tabular_dataset_is_refused_before_training():
    from kopt.compose import compose_and_validate
    from kopt.validate import validate_train

    with pytest.raises(KoptError, match="trainer.tta=flip.*dataset=wine is tabular; allowed: none"):
        compose_and_validate(["dataset=wine", "model=mlp", "trainer.tta=flip"], "config", validators=[validate_train])


def test_trainer_tta_runs_on_the_test_rows_only_and_is_reported_beside_the_plain_metrics(runs):
    from kopt.data.splits import Splits

    summary = json.loads((runs["image"] / "summary.json").read_text())
    test = Splits.load(runs["image"] / "splits.npz").test
    calls = runs["calls"]
    assert len(calls) == 2  # once per fold, never for validation or training batches
    for call in calls:
        assert call["mode"] == "flip" and call["passes"] == [len(test), len(test)]  # two forward passes of the test set
        assert np.array_equal(call["x"], runs["data"].x[test])
    fold_probs = _npz(runs["image"])["fold_probs"]
    for fold, call in zip(summary["folds"], calls):
        assert not np.allclose(call["probs"], fold_probs[fold["fold"]])  # the flip changed the probabilities
        assert fold["test_loss_tta"] != fold["test_loss"]
    for key in ("test_accuracy", "test_loss", "test_accuracy_tta", "test_loss_tta"):
        assert key in summary["metrics"] and f"{key}_std" in summary["metrics"]
    assert not any(k.startswith("val_") and k.endswith("_tta") for k in summary["metrics"])


def test_a_finished_fold_keeps_its_tta_metrics_across_a_resume(tmp_path):
    """kopt train resume=... reads finished folds back from checkpoints/: the TTA scores come back too,
    or the run's test_accuracy_tta would be the mean of the re-trained folds only."""
    from kopt.training.checkpoint import CheckpointStore
    from kopt.training.run import FoldResult

    metrics = {
        "val_accuracy": 0.5,
        "val_loss": 1.0,
        "test_accuracy": 0.6,
        "test_loss": 0.9,
        "test_accuracy_tta": 0.7,
        "test_loss_tta": 0.8,
    }
    store = CheckpointStore(tmp_path)
    store.save_result(FoldResult(0, 1, 1, metrics, np.full((3, 2), 0.5, "float32"), 1.0))
    assert store.load_result(0).metrics == metrics


# --------------------------------------------------------------------------------------- predict


def test_predict_npz_npy_and_dataset_reproduce_predictions_npz(runs, tmp_path):
    run, data = runs["image"], runs["data"]
    saved = _npz(run)
    x, y = data.x[saved["test_idx"]], data.y[saved["test_idx"]]
    np.savez(tmp_path / "new.npz", x=x[..., 0], y=y, ids=np.array([f"ex{i}" for i in range(len(y))]))  # (n, H, W)
    np.save(tmp_path / "new.npy", x)
    for item, out in (("new.npz", "a.csv"), ("new.npy", "b.csv"), ("dataset=synthetic", "c.csv")):
        _predict(run, item if item.startswith("dataset=") else tmp_path / item, "--out", tmp_path / out)
        header, rows, probs = _read(tmp_path / out)
        assert header[:2] == ["id", "predicted"] and header[-10:] == [f"prob_{c}" for c in range(10)]
        assert np.abs(probs - saved["probs"]).max() < 1e-4, item
        assert [r[1] for r in rows] == [str(c) for c in saved["probs"].argmax(axis=1)]
    assert [r[0] for r in _read(tmp_path / "a.csv")[1]][:2] == ["ex0", "ex1"]
    assert "label" in _read(tmp_path / "a.csv")[0] and "label" not in _read(tmp_path / "b.csv")[0]
    assert [r[0] for r in _read(tmp_path / "c.csv")[1]] == [str(i) for i in saved["test_idx"]]


def test_predict_tta_changes_the_probabilities(runs, tmp_path):
    np.save(tmp_path / "x.npy", runs["data"].x[:20])
    _predict(runs["image"], tmp_path / "x.npy", "--out", tmp_path / "plain.csv")
    _predict(runs["image"], tmp_path / "x.npy", "--out", tmp_path / "tta.csv", "--tta", "flip")
    plain, flipped = _read(tmp_path / "plain.csv")[2], _read(tmp_path / "tta.csv")[2]
    assert plain.shape == flipped.shape and not np.allclose(plain, flipped)
    np.save(tmp_path / "mirror.npy", runs["data"].x[:20, :, ::-1])
    _predict(runs["image"], tmp_path / "mirror.npy", "--out", tmp_path / "mirror.csv")
    assert np.abs(flipped - (plain + _read(tmp_path / "mirror.csv")[2]) / 2).max() < 1e-4  # the mean of both views
    with pytest.raises(KoptError, match=r"--tta=flip: dataset=digits holds digits or characters"):  # the input's
        _predict(runs["image"], "dataset=digits", "--out", tmp_path / "digits.csv", "--tta", "flip")


def test_predict_image_folder_and_files(runs, tmp_path):
    import keras
    from PIL import Image

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(4, 8, 8), dtype=np.uint8)
    for i, image in enumerate(pixels):
        (tmp_path / "imgs" / str(i % 2)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(tmp_path / "imgs" / str(i % 2) / f"im{i}.png")
    _predict(runs["image"], tmp_path / "imgs", "--out", tmp_path / "folder.csv")
    header, rows, probs = _read(tmp_path / "folder.csv")
    assert [r[0] for r in rows] == ["0/im0.png", "0/im2.png", "1/im1.png", "1/im3.png"]
    assert [r[header.index("label")] for r in rows] == ["0", "0", "1", "1"]
    order = [0, 2, 1, 3]
    models = [keras.saving.load_model(runs["image"] / f"model_fold{k}.keras", safe_mode=True) for k in range(2)]
    expected = np.mean([m.predict(pixels[order, ..., None].astype("float32"), verbose=0) for m in models], axis=0)
    assert np.abs(probs - expected).max() < 1e-4
    _predict(
        runs["image"],
        tmp_path / "imgs" / "1" / "im3.png",
        tmp_path / "imgs" / "0" / "im0.png",
        "--out",
        tmp_path / "files.csv",
    )
    header, rows, probs = _read(tmp_path / "files.csv")
    assert [r[0] for r in rows] == ["im3.png", "im0.png"] and "label" not in header
    assert np.abs(probs - expected[[3, 0]]).max() < 1e-4


def test_predict_csv_by_column_name_with_ids_and_labels(runs, tmp_path):
    run = runs["tabular"]
    saved = _npz(run)
    with open(runs["root"] / "train.csv", newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    test = [rows[i] for i in saved["test_idx"]]
    # columns in another order, an id column: matched by name
    _write_csv(
        tmp_path / "new.csv",
        [[f"r{i}", r[2], r[3], r[0], r[1]] for i, r in enumerate(test)],
        ["id", "stem", "kind", "petal", "sepal"],
    )
    _predict(run, tmp_path / "new.csv", "--out", tmp_path / "out.csv")
    header, out, probs = _read(tmp_path / "out.csv")
    assert header == ["id", "predicted", "label", "prob_a", "prob_b", "prob_c"]
    assert out[0][0] == "r0" and [r[2] for r in out] == [r[3] for r in test]
    assert np.abs(probs - saved["probs"]).max() < 1e-4
    _write_csv(tmp_path / "bad.csv", [[r[0], r[1]] for r in test], ["petal", "sepal"])
    with pytest.raises(KoptError, match="missing stem"):
        _predict(run, tmp_path / "bad.csv", "--out", tmp_path / "x.csv")
    with pytest.raises(KoptError, match="--tta=flip: .*tabular.*allowed: none"):
        _predict(run, tmp_path / "new.csv", "--out", tmp_path / "x.csv", "--tta", "flip")


def test_labels_must_be_class_indices_below_the_number_of_classes():
    from kopt.predict.inputs import _labels

    classes = ["a", "b", "c"]
    assert _labels(np.array([0, 2, 1]), classes, "y").tolist() == [0, 2, 1]
    assert _labels(np.array(["c", "a"]), classes, "y").tolist() == [2, 0]
    for bad in ([0, 3], [-1, 0]):  # 3 == the number of classes: one past the last index
        with pytest.raises(KoptError, match=r"y: labels must be class indices 0 .. 2 or class names"):
            _labels(np.array(bad), classes, "y")
    for scalar in (1, "b"):  # a 0-d array: one label for no example in particular
        with pytest.raises(KoptError, match=r"y: a 0-d array; give one label per example"):
            _labels(np.array(scalar), classes, "y")


def test_predict_refuses_mismatched_inputs_in_one_line(runs, tmp_path):
    np.save(tmp_path / "rgb.npy", np.zeros((3, 8, 8, 3), "float32"))
    np.save(tmp_path / "big.npy", np.zeros((3, 16, 16, 1), "float32"))
    np.save(tmp_path / "four.npy", np.zeros((3, 4), "float32"))
    with pytest.raises(KoptError, match=r"images have 3 channel\(s\); the model takes 1"):
        _predict(runs["image"], tmp_path / "rgb.npy")
    with pytest.raises(KoptError, match=r"shape \(16, 16, 1\); the model takes \(8, 8, 1\)"):
        _predict(runs["image"], tmp_path / "big.npy")
    with pytest.raises(KoptError, match="4 features per example; the model takes 3"):
        _predict(runs["tabular"], tmp_path / "four.npy")
    with pytest.raises(KoptError, match="dataset=iris.*the model takes"):
        _predict(runs["tabular"], "dataset=iris")
    with pytest.raises(KoptError, match="--trial 0: only for a study dir"):
        _predict(runs["image"], tmp_path / "rgb.npy", "--trial", "0")


def test_predict_from_a_study_and_an_ensemble(runs, tmp_path):
    from kopt.commands.ensemble import main as ensemble

    run, data = runs["image"], runs["data"]
    saved = _npz(run)
    np.save(tmp_path / "x.npy", data.x[saved["test_idx"]])
    study = tmp_path / "study"
    shutil.copytree(run, study / "trials" / "3")
    shutil.copytree(runs["tabular"], study / "retrain" / "0")
    (study / "summary.json").write_text(json.dumps({"retrain": {"trial": 0, "run_dir": "retrain/0"}}))
    _predict(study, tmp_path / "x.npy", "--trial", "3", "--out", tmp_path / "trial.csv")
    assert np.abs(_read(tmp_path / "trial.csv")[2] - saved["probs"]).max() < 1e-4
    with pytest.raises(KoptError, match=r"the model takes \(3,\)"):  # the retrained best (tabular) by default
        _predict(study, tmp_path / "x.npy", "--out", tmp_path / "best.csv")
    with pytest.raises(KoptError, match="--trial 9: no such trial.*allowed: 3"):
        _predict(study, tmp_path / "x.npy", "--trial", "9")
    ensemble([str(run), "--method", "weighted", "--out", str(tmp_path / "ens")])
    _predict(tmp_path / "ens", tmp_path / "x.npy", "--out", tmp_path / "ens.csv")
    with np.load(tmp_path / "ens" / "predictions.npz") as z:
        assert np.abs(_read(tmp_path / "ens.csv")[2] - z["probs"]).max() < 1e-4


def test_kopt_predict_command(runs, tmp_path):
    saved = _npz(runs["image"])
    np.savez(tmp_path / "new.npz", x_test=runs["data"].x[saved["test_idx"]], y_test=runs["data"].y[saved["test_idx"]])
    proc = run_kopt("predict", str(runs["image"]), "new.npz", "--out", "p.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    accuracy = float((saved["probs"].argmax(axis=1) == saved["y_true"]).mean())
    assert f"accuracy {accuracy:.4f}" in proc.stdout and "confusion matrix" in proc.stdout
    assert np.abs(_read(tmp_path / "p.csv")[2] - saved["probs"]).max() < 1e-4
    assert_clean_error(
        run_kopt("predict", str(runs["image"]), "nothing.npz", cwd=tmp_path), "nothing.npz", "no such file"
    )


# ---------------------------------------------------------------------------------------- export


def _export(*argv):
    from kopt.commands.export import main

    main([str(a) for a in argv])


def _run_litert(path, x):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # TensorFlow's own interpreter reads the same file
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    interpreter = Interpreter(model_path=str(path))
    inp = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(inp["index"], x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def _reload(fmt, out, x):
    """The export's predictions, computed by the format's own runtime."""
    if fmt == "keras":
        import keras

        return keras.saving.load_model(out / "model.keras", safe_mode=True).predict(x, verbose=0)
    if fmt == "saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(out / "saved_model"))
        return loaded.serve(x).numpy()
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(out / "model.onnx"))
        return session.run(None, {session.get_inputs()[0].name: x})[0]
    return _run_litert(out / "model.tflite", x)


@pytest.mark.parametrize("fmt", ["keras", "saved_model", "onnx", "litert"])
def test_export_reloads_in_its_own_runtime_and_reproduces_predictions_npz(runs, tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("tf2onnx")
        pytest.importorskip("onnxruntime")
    import os

    run, data = runs["image"], runs["data"]
    saved = _npz(run)
    out = tmp_path / "export"
    _export(run, "--format", fmt, "--out", out)
    probs = _reload(fmt, out, data.x[saved["test_idx"]])
    assert probs.shape == saved["probs"].shape
    assert np.abs(probs - saved["probs"]).max() < 1e-4  # one model: the mean of the 2 fold models
    card = (out / "model_card.md").read_text()
    summary = json.loads((run / "summary.json").read_text())
    m = summary["metrics"]
    assert f"| test_accuracy | {m['test_accuracy']:.4f} ± {m['test_accuracy_std']:.4f} |" in card
    assert f"parameters: {2 * summary['params']:,} (all 2 models)" in card and "FLOPs per example: " in card
    assert "name: kfold" in card and "tta: flip" in card  # the split, and the config in full
    mask = os.umask(0o022)
    os.umask(mask)
    assert (out.stat().st_mode & 0o777) == 0o777 & ~mask  # not mkdtemp's 0700


def test_export_of_a_weighted_ensemble_is_one_model(runs, tmp_path):
    from kopt.commands.ensemble import main as ensemble

    ensemble([str(runs["image"]), "--method", "weighted", "--out", str(tmp_path / "ens")])
    info = json.loads((tmp_path / "ens" / "ensemble.json").read_text())
    for member, weight in zip(info["members"], (0.8, 0.2)):  # tiny folds tie on val_accuracy: set unequal weights
        member["weight"] = weight
    (tmp_path / "ens" / "ensemble.json").write_text(json.dumps(info))
    _export(tmp_path / "ens", "--out", tmp_path / "out")
    saved = _npz(runs["image"])
    expected = 0.8 * saved["fold_probs"][0] + 0.2 * saved["fold_probs"][1]
    probs = _reload("keras", tmp_path / "out", runs["data"].x[saved["test_idx"]])
    assert np.abs(probs - expected).max() < 1e-4
    assert "weight" in (tmp_path / "out" / "model_card.md").read_text()


def test_export_refusals_leave_everything_in_place(runs, tmp_path, monkeypatch):
    import importlib.util

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(KoptError, match="exists and is not empty"):
        _export(runs["image"], "--out", tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tf2onnx" else real(name, *a))
    with pytest.raises(KoptError, match=r"--format onnx needs tf2onnx: pip install 'kopt\[export\]'"):
        _export(runs["image"], "--format", "onnx", "--out", tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_kopt_export_command(runs, tmp_path):
    proc = run_kopt("export", str(runs["tabular"]), "--format", "saved_model", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (out,) = (tmp_path / "runs" / "export").iterdir()
    assert (out / "saved_model" / "saved_model.pb").is_file() and (out / "model_card.md").is_file()
    assert_clean_error(
        run_kopt("export", str(runs["tabular"]), "--format", "tflite", cwd=tmp_path), "--format", "litert"
    )
