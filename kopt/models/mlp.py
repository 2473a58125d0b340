"""Multi-layer perceptron on the flattened input: ``depth`` hidden layers of ``width`` units."""

from __future__ import annotations

import keras
from keras import layers

from kopt.errors import KoptError
from kopt.models import builder
from kopt.models.layers import INIT, bn, classifier_head, kernel_regularizer


@builder("mlp")
def build_mlp(cfg, input_shape, num_classes, reg):
    width, depth = int(cfg.width), int(cfg.depth)
    if width < 1 or depth < 1:
        raise KoptError(f"model.width={width}, model.depth={depth}: both must be >= 1")
    inputs = keras.Input(shape=input_shape, name="inputs")
    x = layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    for i in range(depth):
        x = layers.Dense(width, use_bias=not reg.get("batchnorm", True), kernel_initializer=INIT,
                         kernel_regularizer=kernel_regularizer(reg), name=f"dense{i + 1}")(x)
        x = bn(x, reg, name=f"bn{i + 1}")
        x = layers.Activation("relu", name=f"relu{i + 1}")(x)
        if reg.get("dropout", 0.0):
            x = layers.Dropout(float(reg.dropout), name=f"dropout{i + 1}")(x)
    outputs = classifier_head(x, num_classes, reg, dropout=0.0)
    return keras.Model(inputs, outputs, name=f"mlp_{depth}x{width}")
