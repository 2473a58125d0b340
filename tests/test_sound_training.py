"""Issue 28, the training items: label smoothing on every model family (and val_loss unsmoothed),
the EMA per optimizer update with gradient accumulation, accumulation equal to one big batch, and
the refusals that come before any run dir."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import TINY, assert_clean_error, only_run_dir, read_summary, run_kopt, run_python
from omegaconf import OmegaConf
from test_standalone_model import CHECK

SMALLEST = {
    "cnn": ["model=cnn", "model.width=4", "model.dense=0"],
    "resnet": ["model=resnet", "model.depth=8"],
    "wrn": ["model=wrn", "model.depth=10", "model.width=1"],
    "densenet": ["model=densenet", "model.depth=10", "model.growth_rate=4"],
}
IMAGES = ["dataset=synthetic", "dataset.size=64", "dataset.shape=[8,8,3]"]


def _compose(*overrides):
    from kopt.compose import compose_and_validate
    from kopt.validate import validate_train

    return compose_and_validate(list(overrides), "config", validators=[validate_train])[1][0]


@pytest.mark.parametrize("family", list(SMALLEST))
def test_label_smoothing_compiles_and_copies_every_model_family(family):
    """The standalone copy of a batch-norm model clones the compiled model, which rebuilds its loss
    from the loss's config: an unregistered smoothed loss failed there, after all epochs had run."""
    import keras

    from kopt.data.pipeline import Normalizer
    from kopt.models import build_model
    from kopt.models.batchnorm import has_fused_batchnorm
    from kopt.optim import build_optimizer
    from kopt.training.evaluate import inference_copy
    from kopt.training.switches import loss, smoothing

    cfg = _compose(*IMAGES, *SMALLEST[family], "trainer.label_smoothing=0.2")
    model = build_model(cfg.model, cfg.regularizer, (8, 8, 3), 4)
    metrics = ["accuracy", *smoothing(cfg.trainer, False, 4)[0]]  # as kopt.training.fit compiles
    model.compile(optimizer=build_optimizer(cfg.optimizer, 2, 1), loss=loss(cfg.trainer, False, 4), metrics=metrics)
    if keras.backend.backend() == "tensorflow":
        assert has_fused_batchnorm(model)  # the models whose copy is a clone
    x = np.random.default_rng(0).normal(size=(8, 8, 8, 3)).astype("float32")
    model.fit(x, np.arange(8) % 4, batch_size=4, epochs=1, verbose=0)
    copy = inference_copy(model, Normalizer.fit(x))
    norm = Normalizer.fit(x)
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(norm(x), verbose=0), atol=1e-5)


@pytest.fixture(scope="module")
def smoothed_cnn(tmp_path_factory):
    """A batch-norm model (the CNN) trained end to end with label smoothing, no weight penalty."""
    cwd = tmp_path_factory.mktemp("smoothed")
    proc = run_kopt(
        "train",
        *SMALLEST["cnn"],
        "dataset.limit=300",
        "regularizer=none",
        "trainer.epochs=2",
        "trainer.batch_size=32",
        "trainer.label_smoothing=0.2",
        cwd=cwd,
    )
    return cwd, proc


def test_label_smoothing_trains_a_batch_norm_model_and_saves_a_plain_keras_model(smoothed_cnn):
    from kopt.data.datasets import load_dataset

    cwd, proc = smoothed_cnn
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = only_run_dir(cwd)
    assert read_summary(run)["status"] == "completed"
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    data = load_dataset(cfg.dataset, int(cfg.seed))
    with np.load(run / "splits.npz") as z:
        np.savez(cwd / "raw.npz", x=data.x[z["test"]])
    (cwd / "elsewhere").mkdir()
    # forked before any kopt import, as a fresh interpreter; CHECK blocks the import of kopt itself
    out = run_python("-c", CHECK, str(run), str(cwd / "raw.npz"), cwd=cwd / "elsewhere", timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])[str(run)]  # {run dir: its models' checks}
    assert len(results) == 1 and results[0]["max_diff"] < 1e-5, results


def test_val_loss_is_the_unsmoothed_cross_entropy(smoothed_cnn):
    """val_loss (what tuner.metric=val_loss and early stopping compare) is the plain cross-entropy of
    the best epoch's weights, as test_loss is, whatever trainer.label_smoothing is."""
    import keras

    from kopt.data.datasets import load_dataset

    cwd, proc = smoothed_cnn
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = only_run_dir(cwd)
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    data = load_dataset(cfg.dataset, int(cfg.seed))
    with np.load(run / "splits.npz") as z:
        val = z["val_0"]
    probs = keras.saving.load_model(run / "model.keras").predict(data.x[val], verbose=0).astype("float64")
    plain = float(-np.log(np.clip(probs[np.arange(len(val)), data.y[val]], 1e-7, 1)).mean())
    fold = read_summary(run)["folds"][0]
    assert fold["val_loss"] == pytest.approx(plain, abs=1e-4)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert fold["val_loss"] in [r["val_loss"] for r in rows]
    assert not any(k.startswith("kopt_") or k.startswith("val_kopt_") for r in rows for k in r), rows[0]


def _optimizer_cfg(name="sgd", **extra):
    return OmegaConf.create(
        {
            "name": name,
            "lr": 0.1,
            "momentum": 0.0,
            "nesterov": False,
            "beta_1": 0.9,
            "beta_2": 0.999,
            "weight_decay": 0.0,
            "clipnorm": None,
            "schedule": {"name": "constant", "warmup_epochs": 0},
            **extra,
        }
    )


def _tiny_model(optimizer):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


XY = (np.random.default_rng(0).normal(size=(48, 4)).astype("float32"), np.arange(48) % 3)


@pytest.mark.parametrize("accumulate", [1, 4])
def test_ema_is_a_moving_average_per_optimizer_update(accumulate):
    """optimizer.ema=m is the momentum per update: E_1 = w_1, E_j = m E_(j-1) + (1 - m) w_j over the
    weights w_j after each update. Keras updates its average every batch, so with accumulate=4 the
    momentum per update was m^4 (0.9 -> 0.66)."""
    import keras

    from kopt.optim import build_optimizer

    model = _tiny_model(build_optimizer(_optimizer_cfg(ema=0.9, accumulate=accumulate), 12, 1))
    after = []  # the raw weights after each batch

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            after.append([w.copy() for w in self.model.get_weights()])

    model.fit(*XY, batch_size=4, epochs=1, shuffle=False, callbacks=[Record()], verbose=0)
    updates = after[accumulate - 1 :: accumulate]
    assert len(updates) == 12 // accumulate
    expected = [w.copy() for w in updates[0]]
    for weights in updates[1:]:
        expected = [0.9 * e + 0.1 * w for e, w in zip(expected, weights)]
    average = [v.numpy() for v in model.optimizer._model_variables_moving_average]
    for got, want in zip(average, expected):
        np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_accumulated_batches_update_as_one_batch_k_times_the_size(name):
    """optimizer.accumulate=3 over batches of 4 gives the weights of one step per batch of 12."""
    from kopt.optim import build_optimizer

    x, y = XY[0][:24], XY[1][:24]
    accumulated = _tiny_model(build_optimizer(_optimizer_cfg(name, accumulate=3), 6, 1))
    start = [w.copy() for w in accumulated.get_weights()]
    accumulated.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    big = _tiny_model(build_optimizer(_optimizer_cfg(name), 2, 1))
    big.fit(x, y, batch_size=12, epochs=1, shuffle=False, verbose=0)
    assert all(int(v) == 2 for v in [accumulated.optimizer.iterations, big.optimizer.iterations])  # two updates each
    for got, want, before in zip(accumulated.get_weights(), big.get_weights(), start):
        assert not np.allclose(got, before)
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_saved_ema_weights_are_the_hand_computed_average(tmp_path):
    """model.keras holds the moving average of the raw weights after each update (protocol=fixed:
    the last epoch's), computed here by hand from the weights a callback saw after every batch."""
    import keras

    from kopt.training.run import run_train

    cfg = _compose(
        *TINY,
        "optimizer.ema=0.6",
        "optimizer.accumulate=2",
        "trainer.steps_per_execution=1",
        "trainer.protocol=fixed",
    )
    raw = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raw.append([v.numpy().copy() for v in self.model.trainable_variables])

    summary = run_train(cfg, tmp_path / "run", callbacks_factory=lambda fold, n: [Record()], quiet=True)
    assert summary["status"] == "completed"
    updates = raw[1::2]  # every second batch applies the accumulated gradients
    assert len(updates) >= 3
    expected = updates[0]
    for weights in updates[1:]:
        expected = [0.6 * e + 0.4 * w for e, w in zip(expected, weights)]
    saved = keras.saving.load_model(tmp_path / "run" / "model.keras").trainable_weights
    assert len(saved) == len(expected)
    for got, want in zip(saved, expected):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), want, atol=1e-6)


def test_accumulate_longer_than_the_whole_run_is_refused_before_any_run_dir(tmp_path):
    """More batches per update than the run has: no update is ever applied, and the run ended at
    chance accuracy in silence. TINY: 200 examples, 128 to train, 4 batches of 32, 2 epochs."""
    proc = run_kopt("train", *TINY, "optimizer.accumulate=9", cwd=tmp_path)
    assert_clean_error(proc, "optimizer.accumulate=9", "8 batches", "allowed: optimizer.accumulate <= 8")
    assert proc.returncode == 2 and not (tmp_path / "runs").exists()


def test_accumulate_up_to_the_batches_of_the_run_is_allowed():
    from kopt.errors import KoptError
    from kopt.training.switches import check_accumulate

    check_accumulate(OmegaConf.create({"accumulate": 8}), 4, 2)  # one update, at the last batch
    with pytest.raises(KoptError) as exc:
        check_accumulate(OmegaConf.create({"accumulate": 9}), 4, 2)
    assert str(exc.value).startswith("optimizer.accumulate=9 is more than the 8 batches of the whole run")


def test_a_run_resumes_on_the_backend_it_was_trained_on(tmp_path):
    """trainer.backend=auto follows KERAS_BACKEND: a TensorFlow run resumed under KERAS_BACKEND=jax
    went on with JAX (its metrics 2e-5 off the documented exactness). It resumes on TensorFlow."""
    # trained on TensorFlow: this environment's backend where it is TensorFlow (no KERAS_BACKEND to set, so
    # the preloaded kopt runs it), else KERAS_BACKEND=tensorflow (a fresh process); the resume is a fresh one
    tensorflow = (
        None if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow" else {"KERAS_BACKEND": "tensorflow"}
    )
    proc = run_kopt("train", *TINY, cwd=tmp_path, env=tensorflow)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = only_run_dir(tmp_path)
    first = read_summary(run)
    assert first["versions"]["backend"] == "tensorflow"
    (run / "summary.json").write_text(json.dumps({**first, "status": "interrupted", "pid": None}))
    proc = run_kopt("train", f"resume={run}", cwd=tmp_path, env={"KERAS_BACKEND": "jax"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = read_summary(run)
    assert again["status"] == "completed" and again["versions"]["backend"] == "tensorflow"
    assert "tensorflow" in proc.stdout + proc.stderr and "KERAS_BACKEND=jax" in proc.stdout + proc.stderr
    for key, value in first["metrics"].items():
        assert again["metrics"][key] == pytest.approx(value, abs=1e-6), key


@pytest.mark.parametrize("soft", [False, True])
def test_val_loss_is_the_plain_cross_entropy_plus_the_penalty(soft):
    """Integer labels and one-hot ones (mixup, cutmix), with a weight penalty: val_loss is the plain
    cross-entropy of the validation predictions plus the penalty, and the helper metrics are gone."""
    import keras

    from kopt.training.switches import loss, smoothing

    tr = OmegaConf.create({"label_smoothing": 0.3})
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="softmax", kernel_regularizer=keras.regularizers.L2(0.1))]
    )
    metrics, callbacks = smoothing(tr, soft, 3)
    model.compile(optimizer="sgd", loss=loss(tr, soft, 3), metrics=["accuracy", *metrics])
    x, y = XY
    targets = np.eye(3, dtype="float32")[y] if soft else y
    logs = []

    class Keep(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, epoch_logs=None):
            logs.append(dict(epoch_logs))

    model.fit(
        x, targets, validation_data=(x, targets), batch_size=16, epochs=1, callbacks=[*callbacks, Keep()], verbose=0
    )
    probs = model.predict(x, verbose=0).astype("float64")
    penalty = float(sum(float(keras.ops.convert_to_numpy(p)) for p in model.losses))
    plain = float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1)).mean())
    assert penalty > 0.01
    assert logs[0]["val_loss"] == pytest.approx(plain + penalty, abs=1e-5)
    assert sorted(logs[0]) == ["accuracy", "loss", "val_accuracy", "val_loss"]


def test_the_plain_keras_copy_rebuilds_no_loss_and_no_optimizer(monkeypatch):
    """The batch-norm models' copy for model.keras is never trained: cloning the compiled model made
    Keras compile the clone from the model's compile config, rebuilding the loss (which failed for
    an unregistered one) and building a second optimizer (moments, EMA, accumulators: 3-4 copies of
    the weights for a moment)."""
    import keras

    from kopt.data.pipeline import Normalizer
    from kopt.models import build_model
    from kopt.training.evaluate import inference_copy

    cfg = _compose(*IMAGES, *SMALLEST["cnn"])
    model = build_model(cfg.model, cfg.regularizer, (8, 8, 3), 4)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(8, 8, 8, 3)).astype("float32")
    model.fit(x, np.arange(8) % 4, batch_size=4, epochs=1, verbose=0)
    compiled = []
    original = keras.Model.compile_from_config
    monkeypatch.setattr(keras.Model, "compile_from_config", lambda self, c: compiled.append(c) or original(self, c))
    copy = inference_copy(model, Normalizer.fit(x))
    assert compiled == []
    norm = Normalizer.fit(x)
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(norm(x), verbose=0), atol=1e-5)
