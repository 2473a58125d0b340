"""DenseNet and DenseNet-BC (Huang et al. 2017, "Densely Connected Convolutional Networks").

A 3x3 stem conv (2k filters for DenseNet-B/BC, 16 for plain DenseNet; ``model.init_filters``
overrides), three dense blocks of n layers each, joined by transitions, then BN-ReLU, global
average pooling and a dense softmax layer. A layer is BN-ReLU-conv3x3(k), or with
``bottleneck`` BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k); its output is concatenated to its input.
A transition is BN-ReLU-conv1x1(floor(compression * channels))-avgpool 2x2 (the pooling is
skipped once the map is smaller than 2x2, so tiny inputs work). ``model.dropout`` follows every
conv except the stem (the paper's 0.2 without augmentation); ``regularizer.dropout`` applies
before the dense layer. Its schema and its builder (Keras imported inside the functions that build).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kopt.models import builder
from kopt.schemas import param, schema
from kopt.schemas.depth import densenet_layers


@schema("model", "densenet", input="image")
@dataclass
class DenseNetConfig:
    name: str
    depth: int
    growth_rate: int = param(ge=1)
    compression: float = param(gt=0, le=1)
    bottleneck: bool
    dropout: float = param(ge=0, lt=1)
    init_filters: int | None = param(ge=1)

    def check(self, prefix: str) -> None:
        densenet_layers(self.depth, self.bottleneck, f"{prefix}.depth")


def dense_layer(x, k: int, bottleneck: bool, rate: float, reg, name: str):
    from keras import layers

    from kopt.models.layers import bn_relu, conv, dropout

    y = x
    if bottleneck:
        y = conv(bn_relu(y, reg, f"{name}_b"), 4 * k, 1, reg=reg, name=f"{name}_conv1x1")
        y = dropout(y, rate, f"{name}_drop1x1")
    y = conv(bn_relu(y, reg, name), k, 3, reg=reg, name=f"{name}_conv3x3")
    y = dropout(y, rate, f"{name}_drop3x3")
    return layers.Concatenate(name=f"{name}_concat")([x, y])


def transition(x, compression: float, rate: float, reg, name: str):
    from keras import layers

    from kopt.models.layers import bn_relu, conv, dropout

    filters = int(math.floor(compression * x.shape[-1]))
    x = conv(bn_relu(x, reg, name), filters, 1, reg=reg, name=f"{name}_conv")
    x = dropout(x, rate, f"{name}_drop")
    if min(x.shape[1:3]) >= 2:
        x = layers.AveragePooling2D(2, name=f"{name}_pool")(x)
    return x


@builder("densenet")
def build_densenet(cfg, input_shape, num_classes, reg):
    import keras

    from kopt.models.layers import bn_relu, classifier_head, conv, require_image

    depth, k, bottleneck = cfg.depth, cfg.growth_rate, cfg.bottleneck
    compression, rate = cfg.compression, cfg.dropout
    n = densenet_layers(depth, bottleneck)
    require_image("densenet", input_shape)
    stem = cfg.init_filters or (2 * k if bottleneck else 16)
    inputs = keras.Input(shape=input_shape, name="inputs")
    x = conv(inputs, stem, 3, reg=reg, name="stem_conv")
    for b in range(3):
        for i in range(n):
            x = dense_layer(x, k, bottleneck, rate, reg, name=f"block{b + 1}_layer{i + 1}")
        if b < 2:
            x = transition(x, compression, rate, reg, name=f"transition{b + 1}")
    x = bn_relu(x, reg, "final")
    outputs = classifier_head(x, num_classes, reg)
    bc = ("B" if bottleneck else "") + ("C" if compression < 1 else "")
    return keras.Model(inputs, outputs, name=f"densenet{'_' + bc if bc else ''}{depth}_k{k}")
