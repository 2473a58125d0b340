"""``model=mlp``: a multi-layer perceptron on the flattened input, ``depth`` hidden layers of
``width`` units. Its schema and its builder (Keras imported inside it)."""

from __future__ import annotations

from dataclasses import dataclass

from kopt.models import builder
from kopt.schemas import param, schema


@schema("model", "mlp", input="any")
@dataclass
class MLPConfig:
    name: str
    width: int = param(ge=1)
    depth: int = param(ge=1)

    def min_params(self) -> int:
        """A lower bound of the parameter count (the hidden-to-hidden weights), without building."""
        return self.width * self.width * (self.depth - 1)


@builder("mlp")
def build_mlp(cfg, input_shape, num_classes, reg):
    import keras
    from keras import layers

    from kopt.models.layers import INIT, bn, classifier_head, kernel_regularizer

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
