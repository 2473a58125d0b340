"""The ``augment`` group: Keras 3 preprocessing layers, and kopt's own :class:`PadCrop` and
:class:`CutMix` (written as their papers describe them), applied to training batches in tf.data.
Each option (its schema and its builder, which returns the layers) is one module of
:mod:`kopt.data.augments`; this module applies them.

:func:`build_augment` returns an :class:`Augment`, a function ``(x, y, seed) -> (x, y)`` that
:func:`kopt.data.pipeline.train_stream` maps over training batches only (never validation or
test), in parallel.

Randomness is stateless: each batch arrives with its own seed (derived from the run seed, pass and batch)
and every layer draws from it. Keras layers normally keep their seed in a variable, and a
stateful map function makes tf.data run serially, without prefetching, once op determinism is
on (``trainer.deterministic``, the default). Stateless seeds keep the pipeline parallel and
the augmented batches reproducible for a seed.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from kopt.data.augments import RECIPES
from kopt.schemas.augment import LABEL_MIXING, needs, refuse, refuse_colour


class BatchSeed(keras.random.SeedGenerator):
    """A SeedGenerator without state: draw i of a batch uses fold_in(batch seed, i)."""

    def __init__(self, seed):  # no super().__init__: it would create the seed variable
        self.seed, self.draws = seed, 0

    def next(self, ordered=True):
        self.draws += 1
        return tf.random.experimental.stateless_fold_in(self.seed, self.draws)


def use_seed(layer, gen: BatchSeed) -> None:
    """Point ``layer`` (and its sub-layers, e.g. RandAugment's) at ``gen`` for the batch being traced."""
    for sub in [layer, *layer._flatten_layers(include_self=False)]:
        for attr in ("generator", "seed_generator"):  # preprocessing layers / GaussianNoise, GaussianDropout
            if isinstance(getattr(sub, attr, None), keras.random.SeedGenerator):
                object.__setattr__(sub, attr, gen)  # bypass Keras' attribute tracking


def takes_value_range(layer) -> bool:
    return hasattr(layer, "value_range")


class Augment:
    """Applies ``layers`` in order to a training batch; ``soft_labels`` when a layer mixes labels
    (then ``y`` must arrive one-hot and the loss is categorical crossentropy)."""

    def __init__(self, layers: list, soft_labels: bool = False, salt: int = 0):
        self.layers, self.soft_labels, self.salt = layers, soft_labels, int(salt)

    def __call__(self, x, y, seed):
        gen = BatchSeed(tf.stack([tf.cast(seed, tf.int64), tf.constant(self.salt, tf.int64)]))
        tabular = len(x.shape) == 2
        if tabular:  # MixUp and the noise layers work on 4-D batches: features as a 1x1 image
            x = tf.reshape(x, [-1, 1, 1, x.shape[-1]])
        for layer in self.layers:
            use_seed(layer, gen)
            if type(layer).__name__ in LABEL_MIXING:
                out = layer({"images": x, "labels": y}, training=True)
                x, y = out["images"], out["labels"]
            elif takes_value_range(layer):
                x = in_unit_range(layer, x)
            else:
                x = layer(x, training=True)
        if tabular:
            x = tf.reshape(x, [-1, x.shape[-1]])
        return x, y


def in_unit_range(layer, x):
    """Layers with a value_range see the (normalised) batch rescaled to [0, 1], then scaled back."""
    lo, hi = tf.reduce_min(x), tf.reduce_max(x)
    scale = tf.maximum(hi - lo, 1e-6)
    return layer((x - lo) / scale, training=True) * scale + lo


# ------------------------------------------------------------------------------- kopt's own layers


class BatchLayer(keras.layers.Layer):
    """An augmentation of kopt's own, written with stateless TensorFlow ops on whole batches: it
    draws from ``self.generator``, which :func:`use_seed` points at the batch's :class:`BatchSeed`.
    Training-time only: it lives in the tf.data map, never in a saved model."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        object.__setattr__(self, "generator", BatchSeed(tf.zeros([2], tf.int64)))  # replaced per batch


class PadCrop(BatchLayer):
    """Zero-pad by ``pad`` pixels, then crop the input size back at a uniform random offset per
    image: each of the 2*pad+1 shifts per axis has the same probability (He et al. 2015)."""

    def __init__(self, pad: int, **kwargs):
        super().__init__(**kwargs)
        self.pad = int(pad)

    def call(self, images, training=True):
        p = self.pad
        n, h, w = tf.unstack(tf.shape(images)[:3])
        padded = tf.pad(images, [[0, 0], [p, p], [p, p], [0, 0]])
        offset = tf.random.stateless_uniform([n, 2], self.generator.next(), minval=0, maxval=2 * p + 1, dtype=tf.int32)
        rows = offset[:, :1] + tf.range(h)[None]  # (n, h): the padded rows each image keeps
        cols = offset[:, 1:] + tf.range(w)[None]
        out = tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)
        return tf.ensure_shape(out, images.shape)


def cutmix_lambda(alpha: float, n, seed):
    """``n`` draws of lambda ~ Beta(alpha, alpha) from the stateless seed pair ``seed``, as
    X / (X + Y) with X, Y ~ Gamma(alpha) (in float64, so small alphas do not underflow to 0/0)."""
    g = tf.random.stateless_gamma([2, n], seed, alpha=tf.constant(alpha, tf.float64), dtype=tf.float64)
    total = g[0] + g[1]
    return tf.where(total > 0, g[0] / tf.where(total > 0, total, 1.0), 0.5)


class CutMix(BatchLayer):
    """CutMix as Yun et al. 2019 (not keras.layers.CutMix, which draws a ~ U(0, alpha), then
    Beta(a, a)). Per sample: lambda ~ Beta(alpha, alpha); a box of H*sqrt(1-lambda) by
    W*sqrt(1-lambda) pixels (integer) at a uniform centre, clipped to the image, is pasted from a
    shuffled partner of the batch; the labels mix by the box's actual pixel share."""

    def __init__(self, alpha: float, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, data, training=True):
        images, labels = data["images"], data["labels"]
        n, h, w = tf.unstack(tf.shape(images)[:3])
        hw = tf.stack([h, w])
        cut = tf.sqrt(1.0 - cutmix_lambda(self.alpha, n, self.generator.next()))
        size = tf.cast(tf.floor(cut[:, None] * tf.cast(hw, tf.float64)), tf.int32)  # (n, 2): box height, width
        uniform = tf.random.stateless_uniform([n, 2], self.generator.next())
        centre = tf.cast(uniform * tf.cast(hw, tf.float32), tf.int32)  # a uniform pixel
        lo = tf.clip_by_value(centre - size // 2, 0, hw)
        hi = tf.clip_by_value(centre - size // 2 + size, 0, hw)
        in_rows = (tf.range(h)[None] >= lo[:, :1]) & (tf.range(h)[None] < hi[:, :1])  # (n, h)
        in_cols = (tf.range(w)[None] >= lo[:, 1:]) & (tf.range(w)[None] < hi[:, 1:])  # (n, w)
        box = (in_rows[:, :, None] & in_cols[:, None, :])[..., None]
        partner = tf.argsort(tf.random.stateless_uniform([n], self.generator.next()))
        images = tf.where(box, tf.gather(images, partner), images)
        area = tf.reduce_prod(hi - lo, axis=1)
        keep = 1.0 - tf.cast(area, labels.dtype) / tf.cast(h * w, labels.dtype)  # the label weight of one's own image
        labels = keep[:, None] * labels + (1.0 - keep[:, None]) * tf.gather(labels, partner)
        return {"images": images, "labels": labels}


def build_augment(cfg, data, seed: int) -> Augment | None:
    """The training-batch augmentation for ``cfg`` (the ``augment`` config, typed here), or None for ``none``."""
    from kopt.validate import typed_option

    cfg = typed_option("augment", cfg)
    name = cfg.name
    build = RECIPES.get(name)
    need = needs(cfg)
    if need != "any" and data.kind != "image":
        refuse(name, data.name, f"has tabular samples of shape {data.input_shape}")
    if need == "rgb" and data.input_shape[-1] != 3:
        refuse_colour(name, data.name, data.input_shape[-1])
    layers = build(cfg, data)
    if not layers:
        return None
    soft = any(type(layer).__name__ in LABEL_MIXING for layer in layers)
    return Augment(layers, soft_labels=soft, salt=seed)
