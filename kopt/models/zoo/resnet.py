"""CIFAR ResNet (He et al. 2015, "Deep Residual Learning", section 4.2) and its pre-activation
version (He et al. 2016, "Identity Mappings in Deep Residual Networks").

depth = 6n+2: a 3x3 conv with 16 filters, three stages of n basic blocks (two 3x3 convs) with
16, 32 and 64 filters (stages 2 and 3 start with stride 2), global average pooling and a dense
softmax layer. Where a stage changes the shape, the shortcut is
  A: identity on a 2x2-subsampled input, zero-padded to the new channel count (no parameters,
     the paper's CIFAR choice), or
  B: a 1x1 convolution with stride 2 (+ batch norm in v1).
v1 blocks: conv-BN-ReLU-conv-BN, add, ReLU. v2 blocks: BN-ReLU-conv-BN-ReLU-conv, add, and a
final BN-ReLU before pooling. ``regularizer.dropout`` applies before the dense layer.
Its schema and its builder (Keras imported inside the functions that build).
"""

from __future__ import annotations

from dataclasses import dataclass

from kopt.models import builder
from kopt.schemas import param, schema
from kopt.schemas.depth import resnet_blocks

WIDTHS = (16, 32, 64)


@schema("model", "resnet", input="image", search="resnet")
@dataclass
class ResNetConfig:
    name: str
    depth: int
    version: int = param(choices=(1, 2))
    shortcut: str = param(choices=("A", "B"))

    def check(self, prefix: str) -> None:
        resnet_blocks(self.depth, f"{prefix}.depth")


def zero_pad_shortcut(x, filters: int, strides: int, name: str):
    """Option A: subsample by ``strides`` and zero-pad the channels up to ``filters``."""
    from keras import layers

    if strides > 1:
        x = layers.MaxPooling2D(pool_size=1, strides=strides, padding="same", name=f"{name}_subsample")(x)
    extra = filters - x.shape[-1]
    if extra > 0:
        # channels as a third spatial axis, so a built-in padding layer does it (loads in plain Keras)
        h, w, c = x.shape[1:]
        x = layers.Reshape((h, w, c, 1), name=f"{name}_to3d")(x)
        x = layers.ZeroPadding3D(((0, 0), (0, 0), (extra // 2, extra - extra // 2)), name=f"{name}_zeropad")(x)
        x = layers.Reshape((h, w, filters), name=f"{name}_to2d")(x)
    return x


def shortcut(x, preact, filters: int, strides: int, kind: str, reg, name: str, bn_after: bool):
    """Identity when the shape is kept, else option A (from ``x``) or B (1x1 conv from ``preact``)."""
    from kopt.models.layers import bn, conv

    if strides == 1 and x.shape[-1] == filters:
        return x
    if kind == "A":
        return zero_pad_shortcut(x, filters, strides, name)
    s = conv(preact, filters, 1, strides=strides, reg=reg, name=f"{name}_proj")
    return bn(s, reg, name=f"{name}_proj_bn") if bn_after else s


def block_v1(x, filters: int, strides: int, kind: str, reg, name: str):
    from keras import layers

    from kopt.models.layers import bn, conv

    y = conv(x, filters, 3, strides=strides, reg=reg, name=f"{name}_conv1")
    y = layers.Activation("relu", name=f"{name}_relu1")(bn(y, reg, name=f"{name}_bn1"))
    y = bn(conv(y, filters, 3, reg=reg, name=f"{name}_conv2"), reg, name=f"{name}_bn2")
    s = shortcut(x, x, filters, strides, kind, reg, name, bn_after=True)
    return layers.Activation("relu", name=f"{name}_out")(layers.Add(name=f"{name}_add")([y, s]))


def block_v2(x, filters: int, strides: int, kind: str, reg, name: str):
    from keras import layers

    from kopt.models.layers import bn_relu, conv

    pre = bn_relu(x, reg, name=f"{name}_pre")
    y = conv(pre, filters, 3, strides=strides, reg=reg, name=f"{name}_conv1")
    y = bn_relu(y, reg, name=f"{name}_mid")
    y = conv(y, filters, 3, reg=reg, name=f"{name}_conv2")
    s = shortcut(x, pre, filters, strides, kind, reg, name, bn_after=False)
    return layers.Add(name=f"{name}_add")([y, s])


@builder("resnet")
def build_resnet(cfg, input_shape, num_classes, reg):
    import keras
    from keras import layers

    from kopt.models.layers import bn, bn_relu, classifier_head, conv, require_image

    depth, version, kind = cfg.depth, cfg.version, cfg.shortcut
    n = resnet_blocks(depth)
    require_image("resnet", input_shape)
    inputs = keras.Input(shape=input_shape, name="inputs")
    x = conv(inputs, WIDTHS[0], 3, reg=reg, name="stem_conv")
    if version == 1:
        x = layers.Activation("relu", name="stem_relu")(bn(x, reg, name="stem_bn"))
    block = block_v1 if version == 1 else block_v2
    for stage, filters in enumerate(WIDTHS):
        for i in range(n):
            strides = 2 if stage > 0 and i == 0 else 1
            x = block(x, filters, strides, kind, reg, name=f"stage{stage + 1}_block{i + 1}")
    if version == 2:
        x = bn_relu(x, reg, name="final")
    outputs = classifier_head(x, num_classes, reg)
    return keras.Model(inputs, outputs, name=f"resnet{depth}_v{version}{kind}")
