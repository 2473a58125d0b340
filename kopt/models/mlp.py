"""Multi-layer perceptron on the flattened input: ``depth`` hidden layers of ``width`` units."""

from __future__ import annotations

import keras
from keras import layers

from kopt.models import builder
from kopt.models.layers import INIT, bn, classifier_head, kernel_regularizer


@builder("mlp")
def build_mlp(cfg, input_shape, num_classes, reg):
    width, depth = cfg.width, cfg.depth
    inputs = keras.Input(shape=input_shape, name="inputs")
    x = layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    for i in range(depth):
        x = layers.Dense(
            width,
            use_bias=not reg.batchnorm,
            kernel_initializer=INIT,
            kernel_regularizer=kernel_regularizer(reg),
            name=f"dense{i + 1}",
        )(x)
        x = bn(x, reg, name=f"bn{i + 1}")
        x = layers.Activation("relu", name=f"relu{i + 1}")(x)
        if reg.dropout:
            x = layers.Dropout(reg.dropout, name=f"dropout{i + 1}")(x)
    outputs = classifier_head(x, num_classes, reg, dropout=0.0)
    return keras.Model(inputs, outputs, name=f"mlp_{depth}x{width}")
