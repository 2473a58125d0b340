"""Wide ResNet WRN-d-k (Zagoruyko & Komodakis 2016, "Wide Residual Networks").

depth = 6n+4: a 3x3 conv with 16 filters, three groups of n pre-activation blocks with 16k,
32k and 64k filters (groups 2 and 3 start with stride 2), BN-ReLU, global average pooling and
a dense softmax layer. A block is BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3 plus a shortcut that
is the identity, or a 1x1 conv of the pre-activated input where the shape changes (as the
authors' code). ``model.dropout`` is the rate between the two convs (0.3 in the paper);
``regularizer.dropout`` applies before the dense layer.
"""

from __future__ import annotations

import keras
from keras import layers

from kopt.models import builder
from kopt.models.layers import bn_relu, classifier_head, conv, dropout, require_image
from kopt.schemas.depth import wrn_blocks


def wide_block(x, filters: int, strides: int, rate: float, reg, name: str):
    pre = bn_relu(x, reg, f"{name}_pre")
    y = conv(pre, filters, 3, strides=strides, reg=reg, name=f"{name}_conv1")
    y = dropout(bn_relu(y, reg, f"{name}_mid"), rate, f"{name}_dropout")
    y = conv(y, filters, 3, reg=reg, name=f"{name}_conv2")
    if strides != 1 or x.shape[-1] != filters:
        x = conv(pre, filters, 1, strides=strides, reg=reg, name=f"{name}_proj")
    return layers.Add(name=f"{name}_add")([y, x])


@builder("wrn")
def build_wrn(cfg, input_shape, num_classes, reg):
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
