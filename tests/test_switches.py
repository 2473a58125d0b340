"""Training switches (trainer.label_smoothing, trainer.precision, trainer.steps_per_execution,
optimizer.ema, optimizer.accumulate) and `kopt lr-find`: each changes what it should."""

from __future__ import annotations

import csv
import glob
import json
import math
import shutil

import numpy as np
import pytest
from conftest import TINY, assert_clean_error, only_run_dir, read_summary, run_kopt
from omegaconf import OmegaConf


@pytest.mark.parametrize(
    "override, needle",
    [
        ("trainer.label_smoothing=1.0", "trainer.label_smoothing=1.0 is out of range; allowed: >= 0 and < 1"),
        ("trainer.label_smoothing=-0.1", "trainer.label_smoothing=-0.1 is out of range"),
        ("trainer.precision=float16", "trainer.precision='float16' is out of range; allowed: one of float32"),
        ("trainer.steps_per_execution=0", "trainer.steps_per_execution=0 is out of range; allowed: auto or"),
        ("trainer.steps_per_execution=fast", "trainer.steps_per_execution='fast'"),
        ("optimizer.ema=1.0", "optimizer.ema=1.0 is out of range"),
        ("optimizer.accumulate=0", "optimizer.accumulate=0 is out of range"),
    ],
)
def test_bad_switch_values_are_refused(override, needle):
    from kopt.compose import compose_and_validate
    from kopt.errors import KoptError
    from kopt.validate import validate_train

    with pytest.raises(KoptError) as exc:
        compose_and_validate([override], "config", validators=[validate_train])
    assert needle in str(exc.value)


def test_a_bad_switch_is_one_line_before_any_run_dir(tmp_path):
    proc = run_kopt("train", "optimizer.ema=1.5", cwd=tmp_path)
    assert_clean_error(proc, "optimizer.ema=1.5")
    assert proc.returncode == 2 and not (tmp_path / "runs").exists()


def test_mixed_float16_without_a_gpu_is_one_line_before_any_run_dir(tmp_path):
    # the GPU hidden where this machine has one (CUDA_VISIBLE_DEVICES is read at TensorFlow's import: a fresh
    # process); on a machine without an NVIDIA device the preloaded kopt runs it as it is
    gpu = shutil.which("nvidia-smi") or glob.glob("/dev/nvidia[0-9]*")
    proc = run_kopt(
        "train",
        *TINY,
        "trainer.precision=mixed_float16",
        cwd=tmp_path,
        env={"CUDA_VISIBLE_DEVICES": ""} if gpu else None,
    )
    assert_clean_error(proc, "trainer.precision=mixed_float16", "GPU", "mixed_bfloat16")
    assert proc.returncode == 2 and not (tmp_path / "runs").exists()  # (it left a failed run dir)


def test_steps_per_execution_divides_the_epoch():
    from kopt.training.switches import steps_per_execution

    tr = OmegaConf.create({"steps_per_execution": "auto"})
    assert steps_per_execution(tr, 30_000, 160) == 16
    assert steps_per_execution(tr, 30_000, 18) == 9  # a divisor: no execution runs past the epoch
    assert steps_per_execution(tr, 5_000_000, 160) == 4  # bigger models gain less
    assert steps_per_execution(tr, 50_000_000, 160) == 1
    assert steps_per_execution(tr, 30_000, 23) == 1  # a prime number of batches
    assert steps_per_execution(OmegaConf.create({"steps_per_execution": 6}), 30_000, 16) == 4
    assert steps_per_execution(OmegaConf.create({"steps_per_execution": 64}), 30_000, 12) == 12


def test_auto_runs_a_short_run_one_step_per_execution():
    """A run of at most 48 batches in all traces one step, not Keras' multi-step loop (0.2 s more
    to trace, for a few ms per batch); longer runs and explicit values are as before."""
    from kopt.training.switches import steps_per_execution

    auto = OmegaConf.create({"steps_per_execution": "auto"})
    assert steps_per_execution(auto, 30_000, 16, epochs=3) == 1  # 48 batches
    assert steps_per_execution(auto, 30_000, 16, epochs=4) == 16  # 64
    assert steps_per_execution(auto, 30_000, 4, epochs=2) == 1
    assert steps_per_execution(auto, 30_000, 49, epochs=1) == 7  # 49 batches: past the bound
    assert steps_per_execution(auto, 5_000_000, 40, epochs=2) == 4
    assert steps_per_execution(OmegaConf.create({"steps_per_execution": 4}), 30_000, 8, epochs=2) == 4  # asked for


def test_label_smoothing_changes_the_loss():
    import keras

    from kopt.training.switches import loss

    y_true, y_pred = np.array([0, 2]), np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype="float32")
    plain = keras.losses.get(loss(OmegaConf.create({"label_smoothing": 0.0}), False, 3))
    smoothed = loss(OmegaConf.create({"label_smoothing": 0.3}), False, 3)
    targets = np.eye(3)[y_true] * 0.7 + 0.3 / 3
    expected = float(np.mean(-(targets * np.log(y_pred)).sum(axis=1)))
    assert float(np.mean(keras.ops.convert_to_numpy(smoothed(y_true, y_pred)))) == pytest.approx(expected, rel=1e-5)
    assert float(np.mean(keras.ops.convert_to_numpy(plain(y_true, y_pred)))) == pytest.approx(
        float(np.mean(-np.log(y_pred[[0, 1], y_true]))), rel=1e-5
    )
    soft = keras.losses.get(loss(OmegaConf.create({"label_smoothing": 0.3}), True, 3))  # mixup's one-hot targets
    assert float(soft(np.eye(3)[y_true], y_pred)) == pytest.approx(expected, rel=1e-5)
    # Keras rebuilds a compiled model's loss from its config (clone_model: the batch-norm models' copy)
    again = keras.losses.deserialize(keras.losses.serialize(smoothed))
    assert float(again(y_true, y_pred)) == pytest.approx(expected, rel=1e-5)
    assert expected > float(np.mean(-np.log(y_pred[[0, 1], y_true]))) + 0.1  # the smoothing counts


def _optimizer_cfg(**extra):
    return OmegaConf.create(
        {
            "name": "sgd",
            "lr": 0.1,
            "momentum": 0.0,
            "nesterov": False,
            "weight_decay": 0.0,
            "clipnorm": None,
            "schedule": {"name": "constant", "warmup_epochs": 0},
            **extra,
        }
    )


@pytest.mark.parametrize("accumulate, updates", [(1, 6), (3, 2)])
def test_accumulate_sets_the_number_of_updates(accumulate, updates):
    import keras

    from kopt.optim import build_optimizer

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(
        optimizer=build_optimizer(_optimizer_cfg(accumulate=accumulate), 6, 1), loss="sparse_categorical_crossentropy"
    )
    changes = []

    class Count(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.before = self.model.get_weights()[0].copy()

        def on_train_batch_end(self, batch, logs=None):
            changes.append(not np.array_equal(self.before, self.model.get_weights()[0]))

    x, y = np.random.default_rng(0).normal(size=(24, 4)).astype("float32"), np.arange(24) % 2
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, callbacks=[Count()], verbose=0)
    assert sum(changes) == updates and len(changes) == 6
    assert changes[-1]  # the last batch of each group applies the averaged gradients


def test_precision_sets_the_compute_dtype_and_restores_the_policy():
    import keras

    from kopt.training.switches import precision

    with precision(OmegaConf.create({"precision": "mixed_bfloat16"})):
        layer = keras.layers.Dense(3)
    assert layer.compute_dtype == "bfloat16" and layer.variable_dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the next config (kopt tune) starts clean
    with precision(OmegaConf.create({"precision": "float32"})):
        assert keras.layers.Dense(3).compute_dtype == "float32"


# "multi": as many batches per execution as divide the epoch (auto gives a run this short one: see above)
RUNS = {
    "one": ["trainer.steps_per_execution=1"],
    "multi": ["trainer.steps_per_execution=16"],
    "ema": ["optimizer.ema=0.6"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three runs of one config: steps_per_execution 1 and several, and auto with an EMA of the weights."""
    out = {}
    for name, overrides in RUNS.items():
        cwd = tmp_path_factory.mktemp(name)
        proc = run_kopt("train", *TINY, "trainer.epochs=3", "seed=3", *overrides, cwd=cwd)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[name] = only_run_dir(cwd)
    return out


def _load(run):
    import keras

    return keras.saving.load_model(run / "model.keras", safe_mode=True)


def test_ema_weights_are_validated_tested_and_saved(runs):
    """With optimizer.ema the saved model differs from the plain run's, and the best epoch's logged
    validation loss and accuracy are those of the saved weights: validation used the average."""
    from kopt.data.datasets import load_dataset

    ema = runs["ema"]
    model = _load(ema)
    assert any(not np.allclose(a, b) for a, b in zip(_load(runs["multi"]).get_weights(), model.get_weights()))
    cfg = OmegaConf.load(ema / ".hydra" / "config.yaml")
    data = load_dataset(cfg.dataset, int(cfg.seed))
    with np.load(ema / "splits.npz") as z:
        val = z["val_0"]
    probs = model.predict(data.x[val], verbose=0).astype("float64")
    fold = read_summary(ema)["folds"][0]
    assert float((probs.argmax(axis=1) == data.y[val]).mean()) == pytest.approx(fold["val_accuracy"], abs=1e-6)
    loss = float(-np.log(np.clip(probs[np.arange(len(val)), data.y[val]], 1e-7, 1)).mean())
    assert loss == pytest.approx(fold["val_loss"], abs=1e-4)
    with np.load(ema / "predictions.npz") as z:  # the test set was predicted by the saved (average) weights
        np.testing.assert_allclose(model.predict(data.x[z["test_idx"]], verbose=0), z["probs"], atol=1e-5)


def test_steps_per_execution_is_recorded_and_keeps_the_epochs(runs):
    s_one, s_multi = read_summary(runs["one"]), read_summary(runs["multi"])
    with np.load(runs["multi"] / "splits.npz") as z:
        batches = math.ceil(len(z["train_0"]) / 32)
    assert s_one["steps_per_execution"] == 1
    assert s_multi["steps_per_execution"] > 1 and batches % s_multi["steps_per_execution"] == 0

    def rows(run):
        return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]

    assert len(rows(runs["one"])) == len(rows(runs["multi"])) == 3
    for a, b in zip(rows(runs["one"]), rows(runs["multi"])):  # the same batches and updates: the same curves
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert a[key] == pytest.approx(b[key], abs=1e-5), (key, a, b)


def test_lr_find_suggests_a_rate_inside_the_range(tmp_path):
    proc = run_kopt("lr-find", *TINY, "--min-lr", "1e-5", "--max-lr", "3", "--steps", "40", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = only_run_dir(tmp_path, "lr_find")
    with open(run / "lr_find.csv") as fh:
        rows = list(csv.DictReader(fh))
    lrs = [float(r["lr"]) for r in rows]
    assert 5 <= len(rows) <= 40 and lrs == sorted(lrs) and lrs[0] == pytest.approx(1e-5)
    suggested = float(proc.stdout.split("optimizer.lr=")[1].split()[0])
    assert lrs[0] <= suggested <= lrs[-1]
    assert json.loads((run / "lr_find.json").read_text())["suggested_lr"] == pytest.approx(suggested, rel=1e-2)
    assert (run / "lr_find.png").read_bytes()[:4] == b"\x89PNG"


def test_lr_find_refuses_an_empty_range(tmp_path):
    assert_clean_error(run_kopt("lr-find", "--min-lr", "1", "--max-lr", "0.1", cwd=tmp_path), "--min-lr")


def test_progress_bar_counts_batches_with_several_steps_per_execution():
    """Keras calls the batch hook once per execution, with the last batch's index: the bar
    advances by that many batches and ends each epoch full."""
    import keras

    from kopt.training.callbacks import RichProgress

    class Bar:
        def __init__(self):
            self.completed = []

        def add_task(self, *args, **kwargs):
            return 0

        def update(self, task, completed=None, **kwargs):
            self.completed.append(completed)

    class Quiet(RichProgress):
        def on_train_begin(self, logs=None):
            self.progress = Bar()

        def on_epoch_end(self, epoch, logs=None):
            self.progress.update(self.task, completed=self.steps)

        def on_train_end(self, logs=None):
            pass

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"], steps_per_execution=3)
    bar = Quiet(0, 1, 1, 6)
    x, y = np.zeros((24, 4), "float32"), np.arange(24) % 2
    model.fit(x, y, batch_size=4, epochs=1, callbacks=[bar], verbose=0)
    assert bar.progress.completed == [3, 6, 6]


def test_several_steps_per_execution_are_refused_with_multi_worker_and_auto_takes_one(tmp_path):
    """Keras' multi-step loop fails over a multi-worker iterator (a clean-clone CI run failed the
    two-process multi_worker test with steps_per_execution=auto): auto gives 1 batch per call there."""
    from kopt.training.switches import steps_per_execution

    workers = ["trainer.strategy=multi_worker", "trainer.workers=[127.0.0.1:1,127.0.0.1:2]", "trainer.task_index=0"]
    proc = run_kopt("train", *TINY, *workers, "trainer.steps_per_execution=4", cwd=tmp_path)
    assert_clean_error(proc, "trainer.steps_per_execution=4", "multi_worker")
    single = {"steps_per_execution": "auto", "strategy": "default"}
    assert steps_per_execution(single, 10_000, 48) == 16
    assert steps_per_execution({**single, "strategy": "multi_worker"}, 10_000, 48) == 1


@pytest.mark.parametrize("spe", ["1", "16"])  # 16: the multi-step loop (auto gives this short run 1)
def test_a_kfold_run_traces_the_train_step_once(tmp_path, monkeypatch, spe):
    """Keras' TensorFlow trainer builds the optimizer and metric variables inside the first train
    step's trace, and a tf.function that creates variables is traced twice: the first epoch of every
    run and every trial paid for two traces of the whole train step. kopt builds them first. And the
    folds share one compiled model (kopt.training.reuse): the second fold traces nothing."""
    import keras
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    from kopt.compose import compose_and_validate
    from kopt.training.run import run_train
    from kopt.validate import validate_train

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the double trace is the TensorFlow trainer's")
    traces = []
    original = TensorFlowTrainer.train_step

    def counting(self, data):  # Python runs once per trace, never per step
        traces.append(self.name)
        return original(self, data)

    monkeypatch.setattr(TensorFlowTrainer, "train_step", counting)
    overrides = [*TINY, "split=kfold", "split.k=2", f"trainer.steps_per_execution={spe}", "trainer.checkpoint=false"]
    cfg = compose_and_validate(overrides, "config", validators=[validate_train])[1][0]
    assert run_train(cfg, tmp_path / "run", quiet=True)["status"] == "completed"
    assert len(traces) == 1, traces  # two folds, one trace


def test_the_optimizer_takes_its_typed_schema_object_as_models_and_datasets_do():
    """build_optimizer receives the typed OptimizerConfig (a raw node is checked and typed first):
    both give the same Keras optimizer, and a raw node out of range is one KoptError."""
    from kopt.errors import KoptError
    from kopt.optim import build_optimizer, build_schedule
    from kopt.schemas.optimizer import OptimizerConfig
    from kopt.validate import typed_option

    node = _optimizer_cfg(momentum=0.5, clipnorm=1.0, ema=0.9, accumulate=2, weight_decay=0.01)
    node.schedule = {"name": "step", "warmup_epochs": 0, "milestones": [1], "gamma": 0.5}
    typed = typed_option("optimizer", node)
    assert isinstance(typed, OptimizerConfig) and typed.schedule.milestones == [1]
    for cfg in (typed, node):
        opt = build_optimizer(cfg, 10, 4)
        assert type(opt).__name__ == "SGD" and opt.momentum == 0.5 and opt.clipnorm == 1.0
        assert opt.use_ema and opt.ema_momentum == 0.9 and opt.gradient_accumulation_steps == 2
        assert opt.weight_decay == pytest.approx(0.01)
        assert float(opt.learning_rate) == pytest.approx(0.1)
        schedule = build_schedule(cfg, 10, 4)  # milestone 1 (epochs) at step 10
        assert float(schedule(9)) == pytest.approx(0.1) and float(schedule(10)) == pytest.approx(0.05)
    bad = _optimizer_cfg(lr=-1.0)
    with pytest.raises(KoptError, match=r"optimizer\.lr=-1\.0 is out of range"):
        build_optimizer(bad, 10, 4)
