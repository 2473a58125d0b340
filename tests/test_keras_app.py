"""model=keras_app: keras.applications by name, its own preprocessing inside the model, weights from
Keras' cache only, and model.trainable for fine-tuning."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from conftest import TINY_DATA, assert_clean_error, read_summary, run_kopt


@pytest.mark.parametrize(
    ("mode", "module"), [("caffe", "resnet"), ("tf", "mobilenet_v2"), ("torch", "densenet"), ("raw", None)]
)
def test_the_fixed_preprocessing_equals_keras_own_on_imagenet_standardised_input(mode, module):
    """Images standardised with ImageNet's statistics, through the 1x1 convolution, are what the
    architecture's own preprocess_input makes of the raw 0..255 RGB images."""
    import keras

    from kopt.models.zoo.keras_app import IMAGENET_MEAN, IMAGENET_STD, preprocessing_weights

    rgb = np.random.default_rng(0).uniform(0, 255, size=(4, 5, 5, 3))
    standardised = (rgb / 255 - IMAGENET_MEAN) / IMAGENET_STD
    kernel, bias = preprocessing_weights(mode, 3)
    ours = np.einsum("bhwc,co->bhwo", standardised, kernel[0, 0]) + bias
    expected = rgb if module is None else getattr(keras.applications, module).preprocess_input(rgb.copy())
    np.testing.assert_allclose(ours, np.asarray(expected), rtol=1e-5, atol=1e-3)


def test_grey_input_feeds_every_colour_channel():
    from kopt.models.zoo.keras_app import preprocessing_weights

    kernel, _ = preprocessing_weights("torch", 1)
    assert kernel.shape == (1, 1, 1, 3) and np.all(kernel[0, 0, 0] == 1.0)


def test_the_architecture_table_matches_the_installed_keras():
    import keras

    from kopt.schemas.app_names import APPLICATIONS

    installed = {n for n in dir(keras.applications) if n[0].isupper() and callable(getattr(keras.applications, n))}
    assert set(APPLICATIONS) == installed


@functools.cache
def _build(trainable: str):
    """One model per setting, built once for the structure test and the training test (training
    changes no layer's trainable flag, and the training test compares the statistics it starts from)."""
    from omegaconf import OmegaConf

    from kopt.models import build_model

    cfg = OmegaConf.create(
        {"name": "keras_app", "arch": "MobileNetV3Small", "weights": None, "trainable": trainable, "size": 32}
    )
    reg = OmegaConf.create(
        {"name": "none", "l1": 0.0, "l2": 0.0, "dropout": 0.0, "batchnorm": True, "bn_momentum": 0.99}
    )
    return build_model(cfg, reg, (8, 8, 1), 10)


def test_trainable_none_trains_the_head_only_and_n_the_top_layers():
    frozen = _build("none")
    head = [w for w in frozen.trainable_weights]
    assert sorted(w.path.split("/")[-2] for w in head)[:1] and sum(int(np.prod(w.shape)) for w in head) == 576 * 10 + 10
    top = _build("3")
    base = next(layer for layer in top.layers if isinstance(layer, __import__("keras").Model))
    assert [(type(layer).__name__, layer.trainable) for layer in base.layers[-3:]] == [
        ("BatchNormalization", False),  # batch norm stays frozen (inference mode), as in Keras' fine-tuning recipe
        ("Activation", True),
        ("GlobalAveragePooling2D", True),
    ]
    assert base.get_layer("conv_1").trainable is False  # (the 4th from the top)
    assert not any(layer.trainable for layer in base.layers[:-3] if layer.weights)
    assert not any(w.trainable for w in top.get_layer("app_preprocessing").weights)


@pytest.mark.parametrize("trainable", ["none", "3"])
def test_no_batch_norm_of_a_partly_frozen_architecture_changes_its_moving_statistics_in_training(trainable):
    """Stage 1 (none) and stage 2 (the top N) alike: every batch norm of the architecture is in
    inference mode (the top 3 hold conv_1_bn, which trained its statistics before)."""
    import keras

    model = _build(trainable)
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    bns = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    before = [[np.array(w) for w in bn.non_trainable_weights] for bn in bns]
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(16, 8, 8, 1)).astype("float32")
    model.fit(x, np.arange(16) % 10, epochs=1, batch_size=16, verbose=0)
    for bn, saved in zip(bns, before):
        for w, old in zip(bn.non_trainable_weights, saved):
            np.testing.assert_array_equal(np.asarray(w), old, err_msg=f"{bn.name} {w.name}")


def test_bad_keys_are_one_line_before_any_run_dir(tmp_path):
    for override, needle in (
        ("model.arch=MobileNetV9", "model.arch=MobileNetV9: not a keras.applications builder"),
        ("model.trainable=half", "model.trainable=half"),
    ):
        assert_clean_error(run_kopt("train", *TINY_DATA, "model=keras_app", override, cwd=tmp_path), needle)
    assert not (tmp_path / "runs").exists()


def test_imagenet_weights_not_in_the_cache_are_one_line_and_nothing_is_downloaded(tmp_path):
    home = tmp_path / "keras_home"
    home.mkdir()
    proc = run_kopt(
        "train", *TINY_DATA, "model=keras_app", "model.weights=imagenet", cwd=tmp_path, env={"KERAS_HOME": str(home)}
    )
    assert_clean_error(proc, "model.weights=imagenet", "not in Keras' cache", "model.weights=null")
    assert not list((home / "models").glob("*")) if (home / "models").exists() else True


# the two stages of a fine-tune: a first run, then model.init=<its run dir> with the top layers trainable
STAGE = [*TINY_DATA, "trainer.epochs=1", "model=keras_app", "model.arch=MobileNetV3Small"]
TOP = 8  # MobileNetV3Small's top 8 layers: conv_1 and conv_1_bn, expanded_conv_10's project conv and its bn


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    """The folder of a finished keras_app run, runs/stage1 (trained once for the three tests that read
    it: each writes only its own run dir beside it)."""
    cwd = tmp_path_factory.mktemp("keras_app")
    first = run_kopt("train", *STAGE, "hydra.run.dir=runs/stage1", cwd=cwd)
    assert first.returncode == 0, first.stderr[-3000:]
    return cwd


@pytest.fixture(scope="module")
def stage1_model(stage1):
    """Stage 1's model.keras loaded in plain Keras (safe mode), once for the two tests that read it
    (a MobileNetV3Small takes seconds to rebuild; neither test changes its weights)."""
    import keras

    return keras.saving.load_model(stage1 / "runs/stage1/model.keras", safe_mode=True)


def test_a_keras_app_run_trains_and_saves_a_model_that_loads_in_plain_keras(stage1, stage1_model):
    run_dir = stage1 / "runs/stage1"
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["choices"]["model"] == "keras_app"
    model = stage1_model
    layer_names = [layer.name for layer in model.layers[-1].layers] if hasattr(model.layers[-1], "layers") else []
    assert "app_preprocessing" in layer_names  # the architecture's preprocessing is inside the saved model
    probs = model.predict(np.zeros((2, *model.input_shape[1:]), "float32"), verbose=0)
    assert probs.shape == (2, summary["data"]["classes"]) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)


def _layers(saved):
    """Every weight of a saved model.keras (its path, or the model loaded), by layer name inside the
    model: {name: [arrays]}."""
    import keras

    from kopt.models.init_from import weighted_layers

    if not isinstance(saved, keras.Model):
        saved = keras.saving.load_model(saved, safe_mode=True, compile=False)
    core = next(layer for layer in saved.layers if isinstance(layer, keras.Model))
    return {"/".join(k): [np.asarray(w) for w in layer.get_weights()] for k, layer in weighted_layers(core).items()}


def test_a_second_stage_starts_from_the_first_runs_weights_and_keeps_frozen_ones_and_batch_norm(stage1, stage1_model):
    """Stage 1 trains the whole architecture; stage 2 (model.init=<stage 1>, the top layers trainable)
    starts from its weights: a frozen layer ends equal to stage 1's (loaded, then not trained), a
    trainable top layer moves, and no batch norm's moving statistics change (the base runs in
    inference mode, the trainable top layers' batch norm too)."""
    second = run_kopt(
        "train",
        *STAGE,
        f"model.trainable={TOP}",
        "model.init=runs/stage1",
        "optimizer.lr=1e-4",
        "hydra.run.dir=runs/stage2",
        cwd=stage1,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    a, b = _layers(stage1_model), _layers(stage1 / "runs/stage2/model.keras")
    assert sorted(a) == sorted(b)
    base = "MobileNetV3Small"
    # a frozen convolution, trained in stage 1: the same values after stage 2 (a fresh start would differ)
    np.testing.assert_array_equal(b[f"{base}/conv"][0], a[f"{base}/conv"][0])
    # every batch norm's moving mean and variance (the frozen ones and those of the trainable top layers)
    bns = [k for k in a if k.endswith("_bn")]
    assert f"{base}/conv_1_bn" in bns and len(bns) > 20
    for key in bns:
        for i in (2, 3):
            np.testing.assert_array_equal(b[key][i], a[key][i], err_msg=f"{key} weight {i}")
    # the trainable top layers and the head moved
    for key in (f"{base}/conv_1", "predictions"):
        assert not np.allclose(b[key][0], a[key][0]), key
    summary = read_summary(stage1 / "runs/stage2")
    init = summary["init"]
    assert init["run"] == "runs/stage1" and init["files"] == {"0": "model.keras"}
    assert init["layers"] == len(a) and init["finished_at"] == read_summary(stage1 / "runs/stage1")["finished_at"]


def test_model_init_refuses_what_is_not_a_finished_run_of_the_same_architecture_in_one_line(stage1):
    (stage1 / "runs/empty").mkdir(exist_ok=True)
    for override, needles in (
        (["model.init=runs/nothing"], ("model.init=runs/nothing", "no such run dir")),
        (["model.init=runs/empty"], ("model.init=runs/empty", "not a finished kopt train run")),
        (["model.init=runs/stage1", "model.arch=MobileNetV3Large"], ("model.init=runs/stage1", "model.arch=")),
        (["model.init=runs/stage1", "seed=1"], ("model.init=runs/stage1", "seed=0", "seed=1", "test set")),
        (["model.init=runs/stage1", "dataset.size=300"], ("model.init=runs/stage1", "dataset.size=200")),
    ):
        proc = run_kopt("train", *STAGE, *override, "hydra.run.dir=runs/refused", cwd=stage1)
        assert_clean_error(proc, *needles)
        assert not (stage1 / "runs/refused").exists(), override
