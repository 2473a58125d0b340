"""``model=cnn``: a VGG-style CNN: ``depth`` blocks of ``convs_per_block`` convs, ``width`` filters
in the first block and twice as many in each next one, 2x2 max-pooling after each block while the
feature map is at least 2x2, then global average pooling and an optional dense layer.

``width`` and ``depth`` use the same names as ``mlp`` (units, layers), so "small vs large" is one
override for either: ``model.width=16`` / ``model.width=128``, ``model.depth=1`` / ``model.depth=3``.
Its schema and its builder (Keras imported inside it).
"""

from __future__ import annotations

from dataclasses import dataclass

from kopt.errors import KoptError
from kopt.models import builder
from kopt.schemas import param, schema


@schema("model", "cnn", input="image", search="cnn_digits")
@dataclass
class CNNConfig:
    name: str
    width: int = param(ge=1)
    depth: int = param(ge=1)
    convs_per_block: int = param(ge=1)
    kernel_size: int = param(ge=1)
    dense: int = param(ge=0)

    MAX_FILTERS = 16384  # filters double per block: a ResNet-like depth here would not fit in memory

    def min_params(self) -> int:
        """A lower bound of the parameter count (conv kernels after the first, the dense layer)."""
        filters = [self.width * 2**b for b in range(self.depth) for _ in range(self.convs_per_block)]
        convs = sum(self.kernel_size**2 * a * b for a, b in zip(filters, filters[1:]))
        return convs + filters[-1] * self.dense

    def check(self, prefix: str) -> None:
        last = self.width * 2 ** (self.depth - 1)
        if last > self.MAX_FILTERS:
            raise KoptError(
                f"{prefix}.depth={self.depth} with {prefix}.width={self.width}: the filters double per "
                f"block, to {self.width}x2^{self.depth - 1} in the last; allowed: "
                f"width x 2^(depth-1) <= {self.MAX_FILTERS}"
            )


@builder("cnn")
def build_cnn(cfg, input_shape, num_classes, reg):
    import keras
    from keras import layers

    from kopt.models.layers import INIT, bn, classifier_head, conv, kernel_regularizer, require_image

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
