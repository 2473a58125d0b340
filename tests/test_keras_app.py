"""model=keras_app: keras.applications by name, its own preprocessing inside the model, weights from
Keras' cache only, and model.trainable for fine-tuning."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_DATA, assert_clean_error, only_run_dir, read_summary, run_kopt


@pytest.mark.parametrize(
    ("mode", "module"), [("caffe", "resnet"), ("tf", "mobilenet_v2"), ("torch", "densenet"), ("raw", None)]
)
def test_the_fixed_preprocessing_equals_keras_own_on_imagenet_standardised_input(mode, module):
    """Images standardised with ImageNet's statistics, through the 1x1 convolution, are what the
    architecture's own preprocess_input makes of the raw 0..255 RGB images."""
    import keras

    from kopt.models.keras_app import IMAGENET_MEAN, IMAGENET_STD, preprocessing_weights

    rgb = np.random.default_rng(0).uniform(0, 255, size=(4, 5, 5, 3))
    standardised = (rgb / 255 - IMAGENET_MEAN) / IMAGENET_STD
    kernel, bias = preprocessing_weights(mode, 3)
    ours = np.einsum("bhwc,co->bhwo", standardised, kernel[0, 0]) + bias
    expected = rgb if module is None else getattr(keras.applications, module).preprocess_input(rgb.copy())
    np.testing.assert_allclose(ours, np.asarray(expected), rtol=1e-5, atol=1e-3)


def test_grey_input_feeds_every_colour_channel():
    from kopt.models.keras_app import preprocessing_weights

    kernel, _ = preprocessing_weights("torch", 1)
    assert kernel.shape == (1, 1, 1, 3) and np.all(kernel[0, 0, 0] == 1.0)


def test_the_architecture_table_matches_the_installed_keras():
    import keras

    from kopt.schemas.app_names import APPLICATIONS

    installed = {n for n in dir(keras.applications) if n[0].isupper() and callable(getattr(keras.applications, n))}
    assert set(APPLICATIONS) == installed


def _build(trainable: str):
    from omegaconf import OmegaConf

    from kopt.models import build_model

    cfg = OmegaConf.create(
        {"name": "keras_app", "arch": "MobileNetV3Small", "weights": None, "trainable": trainable, "size": 32}
    )
    reg = OmegaConf.create({"name": "none", "l1": 0.0, "l2": 0.0, "dropout": 0.0, "batchnorm": True})
    return build_model(cfg, reg, (8, 8, 1), 10)


def test_trainable_none_trains_the_head_only_and_n_the_top_layers():
    frozen = _build("none")
    head = [w for w in frozen.trainable_weights]
    assert sorted(w.path.split("/")[-2] for w in head)[:1] and sum(int(np.prod(w.shape)) for w in head) == 576 * 10 + 10
    top = _build("3")
    base = next(layer for layer in top.layers if isinstance(layer, __import__("keras").Model))
    assert [layer.trainable for layer in base.layers[-3:]] == [True] * 3
    assert not any(layer.trainable for layer in base.layers[:-3] if layer.weights)
    assert not any(w.trainable for w in top.get_layer("app_preprocessing").weights)


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


def test_a_keras_app_run_trains_and_saves_a_model_that_loads_in_plain_keras(tmp_path):
    proc = run_kopt(
        "train", *TINY_DATA, "trainer.epochs=1", "model=keras_app", "model.arch=MobileNetV3Small", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = only_run_dir(tmp_path)
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["choices"]["model"] == "keras_app"
    import keras

    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    layer_names = [layer.name for layer in model.layers[-1].layers] if hasattr(model.layers[-1], "layers") else []
    assert "app_preprocessing" in layer_names  # the architecture's preprocessing is inside the saved model
    probs = model.predict(np.zeros((2, *model.input_shape[1:]), "float32"), verbose=0)
    assert probs.shape == (2, summary["data"]["classes"]) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)
