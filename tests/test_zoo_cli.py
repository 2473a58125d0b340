"""The model zoo as a user meets it: `kopt models`, `kopt train model=...`, the experiment presets."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import yaml
from conftest import assert_clean_error, kopt_env, only_run_dir, read_summary, run_kopt
from test_cli import NO_TF_SNIPPET
from test_models import PAPER, compose, within_paper

keras = pytest.importorskip("keras")

from kopt.models import build_model  # noqa: E402
from kopt.models.flops import count_flops  # noqa: E402
from kopt.paths import config_dir  # noqa: E402

# every model preset but model=custom, which needs your model._target_ (tests/test_custom_model.py)
PRESETS = sorted(p.stem for p in (config_dir() / "model").glob("*.yaml") if p.stem != "custom")
EXPERIMENTS = ["resnet20_cifar10", "densenet_bc100_cifar10", "wrn28_10_cifar10"]
# until the augment group's implementation is merged, runs use augment=none
AUGMENT = [] if importlib.util.find_spec("kopt.data.augment") else ["augment=none"]


def built(*overrides: str, shape=(32, 32, 3), classes: int = 10):
    cfg = compose(*overrides)
    return build_model(cfg.model, cfg.regularizer, shape, classes)


@pytest.mark.parametrize(
    "argv",
    [
        ["models", "--help"],
        ["models", "model=resnet", "model.depth=21"],
        ["models", "model=nope"],
        ["models", "--bogus"],
        ["train", "model=wrn", "model.depth=27"],
    ],
)
def test_models_help_and_config_errors_never_import_tensorflow(argv, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", NO_TF_SNIPPET.format(argv=argv)],
        cwd=tmp_path,
        env=kopt_env(),
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert "LOADED: none" in proc.stdout, proc.stdout + proc.stderr


def test_models_help_explains_the_columns(tmp_path):
    proc = run_kopt("models", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    for word in ("FLOPs", "--json", "dataset=", "model.depth", "weights_bytes"):
        assert word in proc.stdout


@pytest.mark.parametrize(
    "args,needles",
    [
        (["train", "model=resnet", "model.depth=21"], ["model.depth=21", "6n+2", "20, 32, 44, 56, 110", "20 or 26"]),
        (["train", "model=densenet", "model.depth=99"], ["model.depth=99", "6n+4", "94 or 100"]),
        (["train", "model=densenet", "model.bottleneck=false", "model.depth=41"], ["3n+4", "40 or 43"]),
        (["train", "model=wrn", "model.depth=27"], ["model.depth=27", "6n+4", "22 or 28"]),
        (["train", "model=resnet", "model.version=3"], ["model.version=3", "1, 2"]),
        (["train", "model=resnet", "model.shortcut=C"], ["model.shortcut", "A, B"]),
        (["train", "model=densenet", "model.compression=0"], ["model.compression"]),
        (["train", "model=cnn", "model.filters=8"], ["model.filters", "width", "depth"]),
        (["models", "model.depth=56"], ["model.depth=56", "model.width=32", "width x 2^(depth-1) <= 16384"]),
        (["train", "model=resnet110", "model.depth=100"], ["model.depth=100"]),
        (["models", "model=resnet", "model.depth=21"], ["model.depth=21", "6n+2"]),
        (["models", "--bogus"], ["--bogus: unknown flag", "--json"]),
    ],
)
def test_bad_model_config_is_one_clear_line(args, needles, tmp_path):
    proc = run_kopt(*args, cwd=tmp_path)
    assert_clean_error(proc, *needles)
    assert proc.returncode == 2
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "overrides",
    [
        ["model=resnet", "model.depth=20"],
        ["model=densenet", "model.depth=16", "model.growth_rate=6"],
        ["model=wrn", "model.depth=10", "model.width=2", "model.dropout=0.3"],
    ],
    ids=["resnet20", "densenet16", "wrn_10_2"],
)
def test_train_each_family_on_digits(overrides, tmp_path):
    proc = run_kopt("train", *overrides, "trainer.epochs=2", "dataset.limit=200", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = only_run_dir(tmp_path)
    summary = read_summary(run)
    assert summary["status"] == "completed"
    assert summary["params"] == built(*overrides, shape=(8, 8, 1)).count_params()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and all(math.isfinite(r["loss"]) for r in rows)
    for name in ("predictions.npz", "splits.npz", ".hydra/config.yaml"):
        assert (run / name).is_file()
    # the saved model needs no kopt code and no unsafe layers
    with zipfile.ZipFile(run / "model.keras") as z:
        config = z.read("config.json").decode()
    assert "kopt" not in config and "Lambda" not in config
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert model.predict(np.zeros((3, 8, 8, 1)), verbose=0).shape == (3, 10)


def parse_table(stdout: str) -> dict[str, list[str]]:
    rows = {}
    for line in stdout.splitlines():
        cells = line.split()
        if len(cells) >= 6 and re.fullmatch(r"[\d,]+", cells[3]):
            rows[cells[0]] = cells
    return rows


@pytest.mark.slow
def test_models_table_lists_every_preset_with_paper_sizes(tmp_path):
    proc = run_kopt("models", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = parse_table(proc.stdout)
    assert sorted(rows) == PRESETS
    for preset, published, printed in PAPER:
        params = int(rows[preset][3].replace(",", ""))
        assert within_paper(params, published, printed), (preset, params)
    assert rows["resnet110"][2] == "110" and rows["wrn_28_10"][2] == "28"
    assert rows["wrn_28_10"][4:6] == ["10.5", "G"]  # 5.25 G multiply-adds, as the paper says
    assert "input 32x32x3, 10 classes" in proc.stdout


def test_models_json_for_a_sweep_on_digits(tmp_path):
    proc = run_kopt("models", "--json", "dataset=digits", "-m", "model=resnet20,wrn_16_8,cnn", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert sorted(rows) == ["cnn", "resnet20", "wrn_16_8"]
    for name, row in rows.items():
        model = built(f"model={name}", shape=(8, 8, 1))
        assert {"name", "params", "flops", "depth", "weights_bytes"} <= row.keys()
        assert row["params"] == model.count_params()
        assert row["flops"] == count_flops(model)
        assert row["weights_bytes"] == 4 * row["params"]
        assert row["input_shape"] == [8, 8, 1] and row["classes"] == 10
    assert rows["resnet20"]["depth"] == 20 and rows["wrn_16_8"]["depth"] == 16 and rows["cnn"]["depth"] == 6


def test_models_json_one_model_from_overrides(tmp_path):
    proc = run_kopt("models", "--json", "model=resnet", "model.depth=56", "model.shortcut=B", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = json.loads(proc.stdout)
    assert row["name"] == "resnet" and row["depth"] == 56 and row["input_shape"] == [32, 32, 3]
    assert within_paper(row["trainable_params"], 0.85e6, "0.85M")
    assert row["params"] == built("model=resnet", "model.depth=56", "model.shortcut=B").count_params()


EXPECTED = {
    "resnet20_cifar10": {
        "model.name": "resnet",
        "model.depth": 20,
        "optimizer.nesterov": False,
        "trainer.batch_size": 128,
        "trainer.epochs": 182,
        "optimizer.schedule.gamma": 0.1,
        "regularizer.l2": 5e-5,
    },
    "densenet_bc100_cifar10": {
        "model.name": "densenet",
        "model.depth": 100,
        "model.bottleneck": True,
        "model.compression": 0.5,
        "optimizer.nesterov": True,
        "trainer.batch_size": 64,
        "trainer.epochs": 300,
        "optimizer.schedule.milestones": [150, 225],
        "optimizer.schedule.gamma": 0.1,
        "regularizer.l2": 5e-5,
    },
    "wrn28_10_cifar10": {
        "model.name": "wrn",
        "model.depth": 28,
        "model.width": 10,
        "model.dropout": 0.3,
        "optimizer.nesterov": True,
        "trainer.batch_size": 128,
        "trainer.epochs": 200,
        "optimizer.schedule.milestones": [60, 120, 160],
        "optimizer.schedule.gamma": 0.2,
        "regularizer.l2": 2.5e-4,
    },
}


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_presets_compose(experiment, tmp_path):
    proc = run_kopt("train", f"experiment={experiment}", "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["dataset"]["name"] == "cifar10" and cfg["augment"]["name"] == "standard"
    assert cfg["optimizer"]["name"] == "sgd" and cfg["optimizer"]["lr"] == 0.1
    assert cfg["optimizer"]["momentum"] == 0.9 and cfg["optimizer"]["weight_decay"] == 0.0
    assert cfg["optimizer"]["schedule"]["name"] == "step" and cfg["name"] == experiment
    for dotted, value in EXPECTED[experiment].items():
        node = cfg
        for part in dotted.split("."):
            node = node[part]
        assert node == pytest.approx(value), dotted
    assert not (tmp_path / "runs").exists()


def test_resnet20_milestones_are_the_papers_iterations():
    from sklearn.model_selection import train_test_split

    from kopt.optim import build_schedule

    cfg = compose("experiment=resnet20_cifar10")
    pool = np.repeat(np.arange(10), 5000)  # CIFAR-10's 50,000 training images, 5,000 per class
    train, _ = train_test_split(pool, test_size=cfg.split.val_size, stratify=pool, random_state=0)
    assert len(train) == 45_000
    steps = math.ceil(len(train) / cfg.trainer.batch_size)
    schedule = build_schedule(cfg.optimizer, steps, cfg.trainer.epochs)
    lr = lambda step: float(schedule(step))  # noqa: E731
    assert lr(0) == pytest.approx(0.1) and lr(31_999) == pytest.approx(0.1)
    assert lr(32_000) == pytest.approx(0.01) and lr(47_999) == pytest.approx(0.01)
    assert lr(48_000) == pytest.approx(0.001)
    assert (cfg.trainer.epochs - 1) * steps < 64_000 <= cfg.trainer.epochs * steps


def test_schedule_epochs_sets_the_cosine_length_apart_from_the_epochs_trained():
    """optimizer.schedule.epochs: a run that stops at epoch 15 of a 30-epoch cosine (the retrain
    after tuning) sees the learning rates of that schedule's first 15 epochs."""
    from kopt.optim import build_schedule

    cfg = compose("optimizer=sgd", "optimizer.lr=0.1")
    squeezed = build_schedule(cfg.optimizer, 10, 15)
    cfg.optimizer.schedule.epochs = 30
    kept = build_schedule(cfg.optimizer, 10, 15)
    assert float(kept(150)) == pytest.approx(0.05, rel=1e-5)  # half-way down the 30-epoch cosine
    assert float(squeezed(149)) < 0.001


def test_resnet20_experiment_runs_on_cifar_shaped_synthetic_data(tmp_path):
    proc = run_kopt(
        "train",
        "experiment=resnet20_cifar10",
        "dataset=synthetic",
        "dataset.shape=[32,32,3]",
        "dataset.size=200",
        "trainer.epochs=1",
        "trainer.batch_size=32",
        *AUGMENT,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = only_run_dir(tmp_path)
    summary = read_summary(run)
    assert summary["status"] == "completed"
    assert summary["params"] == built("model=resnet20").count_params()
    assert summary["choices"]["optimizer"] == "sgd" and summary["choices"]["regularizer"] == "l2"
    assert yaml.safe_load((run / ".hydra" / "config.yaml").read_text())["name"] == "resnet20_cifar10"


def test_models_on_tabular_data_lists_image_models_as_refused(tmp_path):
    proc = run_kopt("models", "--json", "dataset=synthetic", "dataset.shape=[20]", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert sorted(rows) == PRESETS
    assert rows["mlp"]["params"] == built("model=mlp", shape=(20,)).count_params()
    assert rows["mlp"]["input_shape"] == [20] and "error" not in rows["mlp"]
    for name in PRESETS:
        if name != "mlp":
            assert rows[name]["params"] is None and "needs image input" in rows[name]["error"], name
    # one model that cannot take the input is an error, not a row
    proc = run_kopt("models", "model=resnet", "dataset=synthetic", "dataset.shape=[20]", cwd=tmp_path)
    assert_clean_error(proc, "model=resnet needs image input", "model=mlp")


def test_models_needs_no_data_file_for_known_shapes(tmp_path):
    env = {"KERAS_HOME": str(tmp_path / "empty_keras_home")}  # no CIFAR-10 file anywhere
    # kopt looks for dataset files under KERAS_HOME at run time (kopt.keras_files) and never through
    # Keras' own cache, whose folder Keras reads at import: a forked kopt models sees the empty home
    fork = {"run_time_keys": ("KERAS_HOME",)}
    proc = run_kopt(
        "models", "--json", "experiment=wrn28_10_cifar10", "model.depth=10", "model.width=1", cwd=tmp_path, env=env,
        **fork,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = json.loads(proc.stdout)
    assert row["family"] == "wrn" and row["input_shape"] == [32, 32, 3] and row["classes"] == 10
    assert row["params"] == built("model=wrn", "model.depth=10", "model.width=1").count_params()
    proc = run_kopt(
        "models", "--json", "dataset=cifar100", "dataset.label_mode=coarse", "model=mlp", cwd=tmp_path, env=env, **fork
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)[0]["classes"] == 20
