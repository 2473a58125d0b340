"""Augmentation changes training batches only, reproducibly and without serialising tf.data;
normalisation statistics come from the training fold."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY, assert_clean_error, only_run_dir, read_summary, run_kopt
from omegaconf import OmegaConf

from kopt.data.augments.custom import CUSTOM_LAYERS
from kopt.data.datasets import Data
from kopt.errors import KoptError

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from kopt.data.augment import build_augment  # noqa: E402
from kopt.data.pipeline import Normalizer, batches_per_pass, make_dataset, train_stream  # noqa: E402

OPTIONS = {
    "light": {"translate": 0.2, "rotate": 0.05, "zoom": 0.1, "fill_mode": "nearest"},
    "standard": {"pad": 4, "flip": None},
    "noise": {"stddev": 0.1},
    "mixup": {"alpha": 0.4},
    "cutmix": {"alpha": 1.0},
    "randaugment": {"num_ops": 2, "magnitude": 0.5},
    "custom": {"layers": [{"layer": "RandomFlip", "mode": "horizontal"}, {"layer": "RandomContrast", "factor": 0.3}]},
}


def augment_cfg(name: str, **extra):
    return OmegaConf.create({"name": name, **OPTIONS.get(name, {}), **extra})


def image_data(name: str = "cifar_like", shape=(16, 16, 3), n: int = 64, classes: int = 4) -> Data:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, *shape)).astype("float32")
    y = (np.arange(n) % classes).astype("int64")
    return Data(x, y, name, "image" if len(shape) == 3 else "tabular", [str(c) for c in range(classes)])


def batches(data: Data, augment, *, training: bool, seed: int = 0, soft: bool = False, epochs: int = 1):
    """Per epoch, the batches training (its stream) or evaluation (make_dataset) gets."""
    y = np.eye(data.num_classes, dtype="float32")[data.y] if soft else data.y
    if not training:
        return [[(xb.numpy(), yb.numpy()) for xb, yb in make_dataset(data.x, y, 16)] for _ in range(epochs)]
    stream = iter(train_stream(data.x, y, 16, seed=seed, augment=augment))
    return [
        [tuple(t.numpy() for t in next(stream)) for _ in range(batches_per_pass(len(y), 16))] for _ in range(epochs)
    ]


def unshuffled(data: Data, augment, seed: int = 0, soft: bool = False):
    """Training batches in dataset order (shuffle off), so each can be compared with its input."""
    y = np.eye(data.num_classes, dtype="float32")[data.y] if soft else data.y
    ds = tf.data.Dataset.from_tensor_slices((data.x, y)).batch(16)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    ds = tf.data.Dataset.zip(ds, seeds).map(lambda b, s: augment(b[0], b[1], s))
    return [(xb.numpy(), yb.numpy()) for xb, yb in ds]


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_augmentation_changes_training_batches_not_evaluation(name):
    data = image_data()
    augment = build_augment(augment_cfg(name), data, seed=1)
    soft = augment.soft_labels
    assert soft == (name in ("mixup", "cutmix"))
    for i, (xb, yb) in enumerate(unshuffled(data, augment, soft=soft)):
        original = data.x[i * 16 : (i + 1) * 16]
        assert xb.shape == original.shape and np.isfinite(xb).all()
        assert not np.allclose(xb, original), f"{name} left training batch {i} unchanged"
        if soft:
            assert np.allclose(yb.sum(axis=1), 1.0, atol=1e-5)
    evaluated = np.concatenate([xb for xb, _ in batches(data, augment, training=False)[0]])
    assert np.array_equal(evaluated, data.x)  # validation/test batches are never augmented


def test_label_mixing_makes_soft_labels():
    data = image_data()
    labels = np.concatenate([yb for _, yb in unshuffled(data, build_augment(augment_cfg("mixup"), data, 1), soft=True)])
    assert ((labels > 0.01) & (labels < 0.99)).any()  # some targets are mixtures


@pytest.mark.parametrize("name", ["standard", "randaugment", "mixup"])
def test_same_seed_same_batches_new_epoch_new_batches(name):
    data = image_data()
    soft = name == "mixup"
    run1 = batches(data, build_augment(augment_cfg(name), data, 1), training=True, seed=3, soft=soft, epochs=2)
    run2 = batches(data, build_augment(augment_cfg(name), data, 1), training=True, seed=3, soft=soft, epochs=1)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(run1[0], run2[0]))
    assert not all(np.allclose(a[0], b[0]) for a, b in zip(run1[0], run1[1]))


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_map_function_is_stateless_so_tf_data_stays_parallel(name):
    """With op determinism on, tf.data runs a stateful map function serially and drops prefetching."""
    data = image_data()
    augment = build_augment(augment_cfg(name), data, 1)
    y_spec = tf.TensorSpec([None, 4], tf.float32) if augment.soft_labels else tf.TensorSpec([None], tf.int64)
    fn = tf.function(augment).get_concrete_function(
        tf.TensorSpec([None, 16, 16, 3], tf.float32), y_spec, tf.TensorSpec([], tf.int64)
    )
    stateful = sorted({op.type for op in fn.graph.get_operations() if op._is_stateful})
    assert stateful == [], stateful


def flips(augment) -> bool:
    return any(isinstance(layer, keras.layers.RandomFlip) for layer in augment.layers)


def test_flips_are_off_by_default_for_digits():
    assert not flips(build_augment(augment_cfg("standard"), image_data("digits", (8, 8, 1)), 0))
    assert not flips(build_augment(augment_cfg("standard"), image_data("mnist", (8, 8, 1)), 0))
    assert flips(build_augment(augment_cfg("standard"), image_data("cifar10"), 0))
    assert flips(build_augment(augment_cfg("standard", flip=True), image_data("digits", (8, 8, 1)), 0))
    assert not flips(build_augment(augment_cfg("standard", flip=False), image_data("cifar10"), 0))


def test_standard_crop_is_per_image_and_integer():
    data = image_data(shape=(16, 16, 1))
    data.x[:] = np.arange(16 * 16, dtype="float32").reshape(1, 16, 16, 1) + 1  # distinct non-zero pixels
    augment = build_augment(augment_cfg("standard", flip=False), data, 0)
    xb = unshuffled(data, augment)[0][0]
    assert len({tuple(img.ravel()) for img in xb}) > 1  # not one offset for the whole batch
    for img in xb:  # every kept pixel is an original pixel value, the rest zero padding
        assert np.isin(img[img != 0], data.x[0]).all()


@pytest.mark.parametrize("name", ["noise", "mixup"])
def test_tabular_data_takes_noise_and_mixup(name):
    data = image_data(shape=(5,))
    augment = build_augment(augment_cfg(name), data, 0)
    xb, yb = unshuffled(data, augment, soft=augment.soft_labels)[0]
    assert xb.shape == (16, 5) and not np.allclose(xb, data.x[:16])


@pytest.mark.parametrize("name", ["light", "standard", "cutmix", "randaugment", "custom"])
def test_image_augmentation_on_tabular_data_is_refused(name):
    with pytest.raises(KoptError, match=f"augment={name} transforms images, but dataset=npz has tabular"):
        build_augment(augment_cfg(name), image_data("npz", shape=(5,)), 0)


def test_refused_before_tensorflow_loads(tmp_path):
    proc = run_kopt("train", "dataset=wine", "model=mlp", "augment=standard", cwd=tmp_path)
    assert_clean_error(proc, "augment=standard transforms images", "dataset=wine is tabular", "noise")
    proc = run_kopt("train", "dataset=digits", "augment=custom", "augment.layers=[{layer: RandomHue}]", cwd=tmp_path)
    assert_clean_error(proc, "needs 3-channel images", "dataset=digits has 1 channel")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "layers, needle",
    [
        ("[{layer: Dense, units: 3}]", "augment.layers[0].layer='Dense' is not allowed; allowed: CutMix"),
        ("[{layer: RandomFlip}, {layer: RandomZoom, seed: 1}]", "augment.layers[1].seed: not an argument"),
        ("[]", "augment.layers is empty"),
    ],
)
def test_custom_layers_are_checked_against_the_allowed_set(tmp_path, layers, needle):
    proc = run_kopt("train", "augment=custom", f"augment.layers={layers}", cwd=tmp_path)
    assert_clean_error(proc, needle)


def test_custom_layer_table_matches_keras():
    for name, (args, _) in CUSTOM_LAYERS.items():
        accepted = set(inspect.signature(getattr(keras.layers, name).__init__).parameters)
        assert set(args) <= accepted, (name, set(args) - accepted)


def required_args(name: str) -> dict:
    """0.1 for every argument the layer cannot do without (factors or strengths; posterization: bits)."""
    params = inspect.signature(getattr(keras.layers, name).__init__).parameters.values()
    value = 4 if name == "RandomPosterization" else 0.1
    return {
        p.name: value for p in params if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"
    }


@pytest.mark.parametrize("name", sorted(CUSTOM_LAYERS))
def test_every_allowed_custom_layer_runs(name):
    data = image_data(shape=(16, 16, 3))
    augment = build_augment(augment_cfg("custom", layers=[{"layer": name, **required_args(name)}]), data, 0)
    xb, _ = unshuffled(data, augment, soft=augment.soft_labels)[0]
    assert xb.shape == (16, 16, 16, 3) and np.isfinite(xb).all()


def test_bad_custom_layer_argument_is_one_line():
    data = image_data()
    with pytest.raises(KoptError, match=r"augment.layers\[0\] \(RandomRotation\)"):
        build_augment(augment_cfg("custom", layers=[{"layer": "RandomRotation", "factor": "a lot"}]), data, 0)


def test_mixup_trains_on_one_hot_targets_end_to_end(tmp_path):
    """Soft labels: categorical crossentropy, and accuracy still means argmax == class."""
    from kopt.data.datasets import load_dataset
    from kopt.data.splits import Splits

    proc = run_kopt("train", *TINY, "dataset.shape=[6,6,1]", "augment=mixup", "trainer.epochs=3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run_dir = only_run_dir(tmp_path)
    summary = read_summary(run_dir)
    cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    data = load_dataset(cfg.dataset, int(cfg.seed))
    ((train, val),) = Splits.load(run_dir / "splits.npz").folds
    model = keras.models.load_model(run_dir / "model.keras")
    probs = model.predict(data.x[val], verbose=0)  # the saved model normalises raw inputs itself
    assert summary["metrics"]["val_accuracy"] == pytest.approx(float((probs.argmax(1) == data.y[val]).mean()), abs=1e-6)
    with np.load(run_dir / "predictions.npz") as z:
        assert summary["metrics"]["test_accuracy"] == pytest.approx(float((z["probs"].argmax(1) == z["y_true"]).mean()))


# ------------------------------------------------------------------------------------ normalisation


def test_normalizer_statistics_per_channel_and_per_feature():
    assert Normalizer.fit(np.zeros((4, 5, 5, 3), "float32")).mean.shape == (3,)
    assert Normalizer.fit(np.zeros((4, 7), "float32")).mean.shape == (7,)


def test_normalisation_statistics_come_from_the_training_fold_only(tmp_path, monkeypatch):
    """Spy on the Normalizer that training uses: it must be fitted on exactly each fold's training rows."""
    from kopt.compose import compose_and_validate
    from kopt.data import pipeline
    from kopt.data.datasets import load_dataset
    from kopt.data.splits import Splits
    from kopt.training.run import run_train
    from kopt.validate import validate_train

    fitted = []
    original = pipeline.Normalizer.fit.__func__

    def spy(cls, x_train):
        fitted.append(np.array(x_train))
        return original(cls, x_train)

    monkeypatch.setattr(pipeline.Normalizer, "fit", classmethod(spy))
    overrides = [
        *TINY,
        "dataset.size=120",
        "dataset.shape=[4]",
        "split=kfold",
        "split.k=3",
        "trainer.epochs=1",
        "trainer.checkpoint=false",
    ]
    cfg = compose_and_validate(overrides, "config", validators=[validate_train])[1][0]
    run_train(cfg, tmp_path / "run", quiet=True)

    data = load_dataset(cfg.dataset, int(cfg.seed))
    splits = Splits.load(tmp_path / "run" / "splits.npz")
    assert len(fitted) == len(splits.folds) == 3
    for x_fit, (train, _val) in zip(fitted, splits.folds):
        assert np.array_equal(x_fit, data.x[train])  # not the validation rows, not the test rows
    # and the statistics differ from what leaking validation/test rows would give
    everything = Normalizer.fit(data.x)
    assert not np.allclose(Normalizer.fit(fitted[0]).mean, everything.mean)


def test_runs_in_one_process_leave_no_traced_train_graphs(tmp_path):
    """`kopt train -m` runs its jobs in one process: each fold must release the train graphs that
    tf.distribute registered as custom gradients (~15 MiB each), or a sweep grows without bound."""
    from kopt.compose import compose_and_validate
    from kopt.runtime import _gradient_registry, setup_tensorflow
    from kopt.training.run import run_train
    from kopt.validate import validate_train

    setup_tensorflow(0)
    before = set(_gradient_registry())
    cfg = compose_and_validate(
        [*TINY, "dataset.size=120", "dataset.shape=[4]", "split=kfold", "split.k=2", "trainer.epochs=1"],
        "config",
        validators=[validate_train],
    )[1][0]
    for i in range(2):
        assert run_train(cfg, tmp_path / f"run{i}", quiet=True)["status"] == "completed"
    leaked = [k for k in set(_gradient_registry()) - before if str(k).startswith("CustomGradient-")]
    assert leaked == []


@pytest.mark.parametrize("augmented", [False, True])
def test_pipelines_run_without_the_tf_data_autotuner(augmented):
    """The autotuner stalled about one epoch in two on a 2-core CPU (benchmarks/pipeline_throughput.py):
    both the training stream and the evaluation batches use fixed settings instead."""
    from kopt.data.pipeline import PREFETCH_BATCHES

    data = Data(np.zeros((40, 8, 8, 3), "float32"), np.arange(40) % 4, "t", "image", list("abcd"))
    augment = (
        build_augment(OmegaConf.create({"name": "standard", "pad": 2, "flip": None}), data, 0) if augmented else None
    )
    for ds in (make_dataset(data.x, data.y, 8), train_stream(data.x, data.y, 8, seed=0, augment=augment)):
        assert ds.options().autotune.enabled is False
        assert len(list(ds.take(3))) == 3  # and it still yields batches
    assert PREFETCH_BATCHES >= 1


@pytest.mark.parametrize("augmented", [False, True])
def test_the_training_stream_is_traced_without_autographs_source_rewrite(augmented, monkeypatch, tmp_path):
    """AutoGraph's rewrite of the stream's Python functions cost about 0.3 s of every run (a study's
    first trial; it is cached for the later ones; benchmarks/NOTES.md) and converts nothing there: no function of the stream, image files
    included, goes through its transpiler."""
    from PIL import Image
    from tensorflow.python.autograph.pyct import transpiler

    from kopt.data.images import FileImages

    rewritten = []
    real = transpiler.PyToPy.transform_function
    monkeypatch.setattr(
        transpiler.PyToPy,
        "transform_function",
        lambda self, fn, *a, **k: rewritten.append(fn) or real(self, fn, *a, **k),
    )
    files = []
    for i in range(12):
        Image.fromarray(np.full((8, 8, 3), i * 20, "uint8")).save(tmp_path / f"{i}.png")
        files.append(str(tmp_path / f"{i}.png"))
    arrays = Data(np.zeros((40, 8, 8, 3), "float32"), np.arange(40) % 4, "t", "image", list("abcd"))
    for x, y in ((arrays.x, arrays.y), (FileImages(files, (8, 8), 3), np.arange(12) % 4)):
        augment = (
            build_augment(OmegaConf.create({"name": "standard", "pad": 2, "flip": None}), arrays, 0)
            if augmented
            else None
        )
        assert len(list(train_stream(x, y, 4, seed=0, augment=augment).take(4))) == 4
        assert len(list(make_dataset(x, y, 4).take(2))) == 2
    assert rewritten == []


def test_augmentation_map_uses_the_intra_op_thread_count_where_set():
    """A tune worker gets cores // n_workers TensorFlow threads; its augmentation map must not
    take every core again."""
    from conftest import run_python

    code = (
        "from kopt.runtime import setup_tensorflow; from kopt.procs import usable_cores; "
        "setup_tensorflow(0, intra_threads={n}); from kopt.data.pipeline import map_calls; "
        "print(map_calls(), usable_cores())"
    )
    for n in (0, 1):
        out = run_python("-c", code.format(n=n), cwd=Path.cwd(), timeout=120)  # forked where it can be
        calls, cores = map(int, out.stdout.split())
        assert calls == (n or cores)


# ------------------------------------------------------------------------- the papers' recipes


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_cutmix_lambda_is_beta_alpha_alpha(alpha):
    """Yun et al. 2019 draw lambda ~ Beta(alpha, alpha) per sample (Keras' CutMix first draws
    a ~ U(0, alpha), then Beta(a, a): at alpha=1 only 28% of lambda land in [0.25, 0.75], not 50%)."""
    from scipy import stats

    from kopt.data.augment import cutmix_lambda

    lam = cutmix_lambda(alpha, 4000, tf.constant([7, 11], tf.int64)).numpy()
    assert lam.shape == (4000,) and ((lam >= 0) & (lam <= 1)).all()
    assert stats.kstest(lam, stats.beta(alpha, alpha).cdf).pvalue > 0.01
    if alpha == 1.0:  # the figure the issue quotes: half of Beta(1, 1) lies in [0.25, 0.75]
        assert 0.47 < ((lam >= 0.25) & (lam <= 0.75)).mean() < 0.53


@pytest.mark.parametrize("alpha", [1.0, 4.0])
def test_cutmix_label_weight_is_the_pasted_pixel_share(alpha):
    """Half the batch all zeros (class 0), half all ones (class 1): in every mixed image the share
    of ones equals the weight of class 1, exactly, whatever partner and box were drawn
    (alpha > 1 passes validation, so it must run too)."""
    n, side = 64, 13
    x = np.zeros((n, side, side, 1), "float32")
    x[n // 2 :] = 1.0
    data = Data(x, (np.arange(n) >= n // 2).astype("int64"), "cifar_like", "image", ["0", "1"])
    augment = build_augment(augment_cfg("cutmix", alpha=alpha), data, seed=1)
    y = np.eye(2, dtype="float32")[data.y]
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(n).repeat(4)
    seeds = tf.data.Dataset.random(seed=0, rerandomize_each_iteration=True)
    mixed = 0
    for xb, yb in tf.data.Dataset.zip(ds, seeds).map(lambda b, s: augment(b[0], b[1], s)):
        xb, yb = xb.numpy(), yb.numpy()
        assert np.isin(xb, [0.0, 1.0]).all()  # pasted pixels, not blended ones
        share = xb.reshape(n, -1).mean(axis=1)
        np.testing.assert_allclose(yb[:, 1], share, rtol=0, atol=1e-6)
        np.testing.assert_allclose(yb.sum(axis=1), 1.0, atol=1e-6)
        mixed += int(((share > 0) & (share < 1)).sum())
    assert mixed > n  # boxes were pasted across the two halves


def test_standard_crop_shifts_are_uniform_over_the_nine_offsets():
    """He et al. 2015: pad 4, then a uniform random crop: each of the 9 shifts per axis has
    probability 1/9 (RandomTranslation with rounding gave +-4 half the weight of the others)."""
    from scipy import stats

    n, side, centre = 1800, 16, 8
    x = np.zeros((n, side, side, 1), "float32")
    x[:, centre, centre, 0] = 1.0  # one bright pixel: where it lands gives the shift
    data = Data(x, np.zeros(n, "int64"), "cifar_like", "image", ["0"])
    augment = build_augment(augment_cfg("standard", flip=False), data, seed=1)
    ds = tf.data.Dataset.from_tensor_slices((x, data.y)).batch(600)
    seeds = tf.data.Dataset.random(seed=0, rerandomize_each_iteration=True)
    mapped = tf.data.Dataset.zip(ds, seeds).map(lambda b, s: augment(b[0], b[1], s))
    out = np.concatenate([xb.numpy() for xb, _ in mapped])
    assert (out.reshape(n, -1).sum(axis=1) == 1.0).all()  # the pixel is moved, never lost or blended
    rows, cols = np.nonzero(out[..., 0].reshape(n, side, side))[1:]
    for shift in (rows - centre, cols - centre):
        counts = np.bincount(shift + 4, minlength=9)
        assert len(counts) == 9, counts  # shifts within +-4
        assert stats.chisquare(counts).pvalue > 0.001, counts
