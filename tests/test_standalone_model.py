"""model.keras is a standalone predictor: in a process where kopt cannot be imported, plain Keras
loads every model*.keras with safe_mode=True and, on the RAW test inputs (the dataset as loaded,
indexed by splits.npz), reproduces predictions.npz."""

from __future__ import annotations

import io
import json
import zipfile

import h5py
import numpy as np
import pytest
from conftest import only_run_dir, read_summary, run_kopt, run_python
from omegaconf import OmegaConf

# Runs in an interpreter of its own: kopt is made unimportable before anything else happens.
CHECK = r"""
import sys
sys.modules["kopt"] = None
try:
    import kopt  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("kopt is importable")
import glob, json, os
import keras, numpy as np
done = {}
for run, raw in zip(sys.argv[1::2], sys.argv[2::2]):  # (run dir, its raw test inputs) pairs
    with np.load(raw) as z:
        x = z["x"]
    with np.load(os.path.join(run, "predictions.npz")) as z:
        fold_probs = z["fold_probs"]
    paths = sorted(glob.glob(os.path.join(run, "model*.keras")), key=lambda p: int("0" + "".join(filter(str.isdigit, os.path.basename(p)))))
    out = []
    for k, path in enumerate(paths):
        model = keras.saving.load_model(path, safe_mode=True)
        assert getattr(model, "optimizer", None) is None, path
        probs = model.predict(x, verbose=0)
        out.append({"model": os.path.basename(path), "max_diff": float(np.abs(probs - fold_probs[k]).max()),
                    "argmax": probs.argmax(1).tolist()})
    done[run] = out
print(json.dumps(done))
"""

CASES = {
    # tabular, per-feature statistics: a csv whose string labels kopt encodes (see write_csv)
    "mlp_csv": [
        "dataset=csv",
        "dataset.path={tmp}/flowers.csv",
        "dataset.label=species",
        "model=mlp",
        "model.width=16",
        "model.depth=1",
        "trainer.epochs=3",
    ],
    "resnet_rgb": [
        "model=resnet",
        "model.depth=8",
        "dataset=synthetic",
        "dataset.size=200",
        "dataset.shape=[8,8,3]",
        "trainer.epochs=2",
    ],
    # images with one channel, and each model of a k-fold run
    "cnn_3_folds": [
        "model=cnn",
        "model.width=4",
        "model.dense=0",
        "dataset.limit=300",
        "split=kfold",
        "split.k=3",
        "trainer.epochs=2",
    ],
}


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> dict:
    """{case: (run dir, the check's results)}: each case trained in its own folder, then all their
    models loaded and run in one fresh interpreter (one Keras import for the three)."""
    runs, pairs = {}, []
    for case, overrides in CASES.items():
        cwd = tmp_path_factory.mktemp(case)
        write_csv(cwd / "flowers.csv")
        args = [a.format(tmp=cwd) for a in overrides]
        proc = run_kopt("train", *args, "trainer.batch_size=32", cwd=cwd)
        assert proc.returncode == 0, proc.stderr[-3000:]
        run = runs[case] = only_run_dir(cwd)
        data = _load_dataset(OmegaConf.load(run / ".hydra" / "config.yaml"))
        with np.load(run / "splits.npz") as z:
            np.savez(cwd / "raw.npz", x=data.x[z["test"]])
        pairs += [str(run), str(cwd / "raw.npz")]
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # a cwd outside the repository, and no PYTHONPATH to it
    # forked from the preloaded server (which never imports kopt); CHECK makes kopt unimportable itself
    out = run_python("-c", CHECK, *pairs, cwd=elsewhere, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    return {case: (run, results[str(run)]) for case, run in runs.items()}


def _load_dataset(cfg):
    from kopt.data.datasets import load_dataset

    return load_dataset(cfg.dataset, int(cfg.seed))


@pytest.mark.parametrize("case", list(CASES))
def test_saved_models_predict_raw_inputs_without_kopt(case, checked):
    run, results = checked[case]
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    data = _load_dataset(cfg)
    with np.load(run / "splits.npz") as z:
        test = z["test"]
    with np.load(run / "predictions.npz") as z:
        np.testing.assert_array_equal(z["y_true"], data.y[test])
        n_folds = len(z["fold_probs"])
    assert len(results) == n_folds == (3 if "folds" in case else 1), results
    summary = read_summary(run)
    for k, result in enumerate(results):
        assert result["max_diff"] < 1e-5, result
        accuracy = float((np.array(result["argmax"]) == data.y[test]).mean())
        assert accuracy == pytest.approx(summary["folds"][k]["test_accuracy"], abs=1e-6)
        with zipfile.ZipFile(run / result["model"]) as z:  # inference only: no optimizer, no compile config
            config = json.loads(z.read("config.json"))
            with z.open("model.weights.h5") as fh, h5py.File(io.BytesIO(fh.read()), "r") as weights:
                groups = list(weights.keys())
        assert not compile_configs(config), compile_configs(config)
        assert "optimizer" not in groups, groups
        assert any(layer["class_name"] == "Normalization" for layer in config["config"]["layers"])
    assert summary["data"]["class_names"] == data.class_names
    if case == "mlp_csv":  # the user's labels, and which output index each became
        assert summary["data"]["class_names"] == ["setosa", "versicolor", "virginica"]
        assert summary["data"]["label_encoding"] == {"setosa": 0, "versicolor": 1, "virginica": 2}
    else:
        assert "label_encoding" not in summary["data"]


def compile_configs(node) -> list:
    """Every non-null compile_config in a saved model's config, nested models included."""
    if isinstance(node, dict):
        found = [node["compile_config"]] if node.get("compile_config") else []
        return found + [c for v in node.values() for c in compile_configs(v)]
    if isinstance(node, list):
        return [c for v in node for c in compile_configs(v)]
    return []


def write_csv(path) -> None:
    """Three classes with string labels; features on very different scales (raw != normalised)."""
    rng = np.random.default_rng(0)
    rows = ["a,b,species"]
    for k, name in enumerate(("setosa", "virginica", "versicolor") * 30):
        rows.append(f"{rng.normal() + k % 3:.3f},{rng.normal() * 100 + 500:.3f},{name}")
    path.write_text("\n".join(rows) + "\n")
