"""Wide ResNet WRN-d-k (Zagoruyko & Komodakis 2016, "Wide Residual Networks").

depth = 6n+4: a 3x3 conv with 16 filters, three groups of n pre-activation blocks with 16k,
32k and 64k filters (groups 2 and 3 start with stride 2), BN-ReLU, global average pooling and
a dense softmax layer. A block is BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3 plus a shortcut that
is the identity, or a 1x1 conv of the pre-activated input where the shape changes (as the
authors' code). ``model.dropout`` is the rate between the two convs (0.3 in the paper);
``regularizer.dropout`` applies before the dense layer. Its schema and its builder (Keras imported
inside the functions that build).
"""

from __future__ import annotations

from dataclasses import dataclass

from kopt.models import builder
from kopt.schemas import param, schema
from kopt.schemas.depth import wrn_blocks


@schema("model", "wrn", input="image")
@dataclass
class WRNConfig:
    name: str
    depth: int
    width: int = param(ge=1)
    dropout: float = param(ge=0, lt=1)

    def check(self, prefix: str) -> None:
        wrn_blocks(self.depth, f"{prefix}.depth")

    def min_params(self) -> int:
        """About the parameter count: WRN-28-10 has 36.5 M, growing with width^2 and with depth."""
        return int(36.5e6 * (self.width / 10) ** 2 * (self.depth - 4) / 24)


def wide_block(x, filters: int, strides: int, rate: float, reg, name: str):
    from keras import layers

    from kopt.models.layers import bn_relu, conv, dropout

    pre = bn_relu(x, reg, f"{name}_pre")
    y = conv(pre, filters, 3, strides=strides, reg=reg, name=f"{name}_conv1")
    y = dropout(bn_relu(y, reg, f"{name}_mid"), rate, f"{name}_dropout")
    y = conv(y, filters, 3, reg=reg, name=f"{name}_conv2")
    if strides != 1 or x.shape[-1] != filters:
        x = conv(pre, filters, 1, strides=strides, reg=reg, name=f"{name}_proj")
    return layers.Add(name=f"{name}_add")([y, x])


@builder("wrn")
def build_wrn(cfg, input_shape, num_classes, reg):
    import keras

    from kopt.models.layers import bn_relu, classifier_head, conv, require_image

    depth, k, rate = cfg.depth, cfg.width, cfg.dropout
    n = wrn_blocks(depth)
    require_image("wrn", input_shape)
    inputs = keras.Input(shape=input_shape, name="inputs")
    x = conv(inputs, 16, 3, reg=reg, name="stem_conv")
    for group, filters in enumerate((16 * k, 32 * k, 64 * k)):
        for i in range(n):
            strides = 2 if group > 0 and i == 0 else 1
            x = wide_block(x, filters, strides, rate, reg, name=f"group{group + 1}_block{i + 1}")
    x = bn_relu(x, reg, "final")
    outputs = classifier_head(x, num_classes, reg)
    return keras.Model(inputs, outputs, name=f"wrn_{depth}_{k}")
