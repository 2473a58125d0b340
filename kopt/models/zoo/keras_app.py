"""``model=keras_app``: a ``keras.applications`` architecture by name (``model.arch``), without its
top, then kopt's classifier head on its pooled features.

Its input is what every kopt model gets: the training fold's per-channel standardisation (which
``model.keras`` holds in front). In front of the architecture, one fixed 1x1 convolution
(``app_preprocessing``, not trained) maps that to the input the architecture was trained on
(:mod:`kopt.schemas.app_names`): grey to RGB, the ImageNet statistics, the BGR order and scale
of the caffe models, so ``model.weights=imagenet`` sees images as ImageNet did, and the saved model
needs no Python function (no Lambda layer) to load. The data's standardised channels stand for
ImageNet's standardised colours: exact in scale, as close in colour as the data's statistics are.

``model.weights=imagenet`` loads from Keras' cache only: kopt never downloads at run time. A file
that is not cached is one line saying how to put it there. ``model.trainable``: ``all``, ``none``
(only the head trains) or N, the top N layers of the architecture but their batch norm. Unless
``all``, every batch norm of the architecture is frozen, and a frozen batch norm runs in inference
mode in Keras 3 (its moving statistics never change), as in Keras' fine-tuning examples. (Calling
the architecture with ``training=False``, as Keras' transfer-learning guide does, is overridden by
``fit``'s ``training=True`` in Keras 3.15.) ``model.init``: a finished run whose weights this run
starts from (:mod:`kopt.models.init_from`), the second stage of a fine-tune.
Its schema and its builder (Keras and numpy imported inside the functions that build).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from kopt.errors import KoptError
from kopt.models import builder
from kopt.schemas import param, schema
from kopt.schemas.app_names import APPLICATIONS, MIN_SIZE, MODE_OF

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@schema("model", "keras_app", input="image")
@dataclass
class KerasAppConfig:
    """A ``keras.applications`` architecture by name, with its own input preprocessing inside the
    model and kopt's classifier head on its pooled features."""

    name: str
    arch: str
    weights: str | None = param(choices=(None, "imagenet"))
    trainable: str = param()
    size: int = param(ge=32)
    init: str | None = param()  # a finished run dir whose model.keras gives the starting weights

    def check(self, prefix: str) -> None:
        if self.arch not in APPLICATIONS:
            close = [a for a in APPLICATIONS if a.lower().startswith(self.arch.lower()[:5])] or APPLICATIONS
            raise KoptError(f"{prefix}.arch={self.arch}: not a keras.applications builder; allowed: {', '.join(close)}")
        text = str(self.trainable)
        if text not in ("all", "none") and not (text.isdigit() and int(text) > 0):
            raise KoptError(
                f"{prefix}.trainable={text}: allowed: all, none, or N > 0 (the top N layers of the architecture)"
            )


def preprocessing_weights(mode: str, channels: int):
    """(kernel (1, 1, channels, 3), bias (3,)) of the 1x1 convolution that maps standardised input
    channels to the architecture's input in ``mode``: two float32 numpy arrays."""
    import numpy as np

    mean, std, caffe_mean = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD), np.array(CAFFE_MEAN_BGR)
    source = [c % channels for c in range(3)]  # grey feeds R, G and B
    scale, offset = np.ones(3), np.zeros(3)  # per RGB channel: out = x_std * scale + offset
    order = [0, 1, 2]
    if mode == "tf":  # 2 * rgb01 - 1
        scale, offset = 2 * std, 2 * mean - 1
    elif mode == "raw":  # 255 * rgb01
        scale, offset = 255 * std, 255 * mean
    elif mode == "caffe":  # BGR, 255 * rgb01 - mean
        order = [2, 1, 0]
        scale, offset = 255 * std[order], 255 * mean[order] - caffe_mean
    elif mode != "torch":
        raise ValueError(mode)
    kernel = np.zeros((1, 1, channels, 3))
    for out, rgb in enumerate(order):
        kernel[0, 0, source[rgb], out] = scale[out]
    return kernel.astype("float32"), offset.astype("float32")


def _cached_weights_only():
    """keras.applications' downloader, allowed to read Keras' cache but never the network."""
    from keras.src.utils import file_utils

    fetch = file_utils.get_file

    def get_file(fname=None, origin=None, cache_subdir="datasets", cache_dir=None, **kw):
        home = os.path.expanduser(cache_dir or os.environ.get("KERAS_HOME") or os.path.join("~", ".keras"))
        name = fname or os.path.basename(str(origin))
        path = os.path.join(home, cache_subdir, name)
        if not os.path.isfile(path):
            raise _NotCached(path)
        return fetch(fname=fname, origin=origin, cache_subdir=cache_subdir, cache_dir=cache_dir, **kw)

    return file_utils, fetch, get_file


class _NotCached(Exception):
    pass


def _base(cfg, shape):
    import keras

    fn = getattr(keras.applications, cfg.arch)
    weights = None if cfg.init else (cfg.weights or None)  # model.init: the weights come from that run
    file_utils, fetch, guarded = _cached_weights_only()
    file_utils.get_file = guarded
    try:
        return fn(include_top=False, weights=weights, input_shape=shape, pooling="avg")
    except _NotCached as exc:
        raise KoptError(
            f"model.weights=imagenet: {cfg.arch}'s weights are not in Keras' cache ({exc}), and kopt does not "
            f'download at run time; on a machine with network run python -c "import keras; '
            f"keras.applications.{cfg.arch}(include_top=False, weights='imagenet')\" and copy the file "
            "there, or use model.weights=null"
        ) from None
    except ValueError as exc:
        raise KoptError(f"model.arch={cfg.arch} at input {shape}: {' '.join(str(exc).split())[:300]}") from None
    finally:
        file_utils.get_file = fetch


def _set_trainable(base, trainable: str) -> None:
    import keras

    if trainable == "all":
        return
    if trainable == "none":
        base.trainable = False
        return
    top = int(trainable)
    for layer in base.layers[:-top]:
        layer.trainable = False
    for layer in base.layers[-top:]:  # Keras' fine-tuning recipe: batch norm stays frozen, in inference mode
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


@builder("keras_app")
def build_keras_app(cfg, input_shape, num_classes, reg):
    import keras

    from kopt.models.layers import classifier_head

    if len(input_shape) != 3:
        raise KoptError(f"model=keras_app needs image input (H, W, C), got {tuple(input_shape)}")
    height, width, channels = input_shape
    side = max(int(cfg.size), MIN_SIZE.get(cfg.arch, 32))
    inputs = keras.Input(shape=input_shape, name="inputs")
    x = inputs
    if height < side or width < side:
        x = keras.layers.Resizing(max(height, side), max(width, side), name="resize")(x)
    kernel, bias = preprocessing_weights(MODE_OF[cfg.arch], channels)
    prep = keras.layers.Conv2D(3, 1, name="app_preprocessing", trainable=False)
    x = prep(x)
    prep.set_weights([kernel, bias])
    base = _base(cfg, tuple(int(d) for d in x.shape[1:]))
    _set_trainable(base, str(cfg.trainable))
    outputs = classifier_head(base(x), num_classes, reg, dropout=None)
    return keras.Model(inputs, outputs, name=f"keras_app_{cfg.arch.lower()}")
