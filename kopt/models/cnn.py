"""A VGG-style CNN: ``depth`` blocks of ``convs_per_block`` convs, ``width`` filters in the first
block and twice as many in each next one, 2x2 max-pooling after each block while the feature map
is at least 2x2, then global average pooling and an optional dense layer.

``width`` and ``depth`` use the same names as ``mlp`` (units, layers), so "small vs large" is one
override for either: ``model.width=16`` / ``model.width=128``, ``model.depth=1`` / ``model.depth=3``.
"""

from __future__ import annotations

import keras
from keras import layers

from kopt.models import builder
from kopt.models.layers import INIT, bn, classifier_head, conv, kernel_regularizer, require_image


@builder("cnn")
def build_cnn(cfg, input_shape, num_classes, reg):
    require_image("cnn", input_shape)
    width, depth = cfg.width, cfg.depth
    inputs = keras.Input(shape=input_shape, name="inputs")
    x = inputs
    size = min(input_shape[:2])
    for b in range(depth):
        for c in range(cfg.convs_per_block):
            x = conv(x, width * 2**b, cfg.kernel_size, reg=reg, name=f"block{b + 1}_conv{c + 1}")
            x = bn(x, reg, name=f"block{b + 1}_bn{c + 1}")
            x = layers.Activation("relu", name=f"block{b + 1}_relu{c + 1}")(x)
        if size >= 2:
            x = layers.MaxPooling2D(2, name=f"block{b + 1}_pool")(x)
            size //= 2
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if cfg.dense:
        if reg.dropout:
            x = layers.Dropout(reg.dropout, name="dense_dropout")(x)
        x = layers.Dense(
            cfg.dense,
            activation="relu",
            kernel_initializer=INIT,
            kernel_regularizer=kernel_regularizer(reg),
            name="dense",
        )(x)
    outputs = classifier_head(x, num_classes, reg)
    return keras.Model(inputs, outputs, name=f"cnn_{depth}x{cfg.convs_per_block}_{width}")
