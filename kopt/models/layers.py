"""Building blocks shared by the model builders (regularizer, BN, head)."""

from __future__ import annotations

import keras
from keras import layers

from kopt.models.batchnorm import FusedBatchNormalization

INIT = "he_normal"


def kernel_regularizer(reg):
    """L1/L2 penalty for every kernel, or None."""
    l1, l2 = reg.l1, reg.l2
    if l1 == 0.0 and l2 == 0.0:
        return None
    return keras.regularizers.L1L2(l1=l1, l2=l2)


def uses_batchnorm(reg) -> bool:
    return reg.batchnorm


def conv(x, filters: int, kernel_size: int = 3, strides: int = 1, reg=None, use_bias: bool | None = None, name=None):
    """A conv with the output size of 'same' padding; no bias when batch norm follows (it would be
    redundant).

    Strided, it pads explicitly, (k-1)//2 pixels before and the rest after, then convolves 'valid',
    as the papers' reference code: output i centres on input pixel strides*i, the pixel a
    stride-2 shortcut (subsample or 1x1 conv) keeps. TensorFlow's 'same' pads an even input only
    after, so a 3x3 stride-2 conv would centre on the odd pixels next to them."""
    if use_bias is None:
        use_bias = not (reg is not None and uses_batchnorm(reg))
    padding = "same"
    if strides > 1 and kernel_size > 1:
        before = (kernel_size - 1) // 2
        pad = (before, kernel_size - 1 - before)
        x = layers.ZeroPadding2D((pad, pad), name=f"{name}_pad" if name else None)(x)
        padding = "valid"
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=use_bias,
        kernel_initializer=INIT,
        kernel_regularizer=kernel_regularizer(reg) if reg is not None else None,
        name=name,
    )(x)


def _under_tf_strategy() -> bool:
    if keras.backend.backend() != "tensorflow":  # the builders also run on Keras' JAX/torch backends
        return False
    import tensorflow as tf

    return tf.distribute.has_strategy()


def bn(x, reg, name=None):
    if not uses_batchnorm(reg):
        return x
    # under a tf.distribute strategy (trainer.strategy), batch statistics are global, so the moving
    # averages stay identical on every replica and worker; otherwise image maps on the TensorFlow
    # backend use its fused kernel (kopt.models.batchnorm)
    if _under_tf_strategy():
        return layers.BatchNormalization(momentum=reg.bn_momentum, name=name, synchronized=True)(x)
    fused = keras.backend.backend() == "tensorflow" and len(x.shape) == 4
    return (FusedBatchNormalization if fused else layers.BatchNormalization)(momentum=reg.bn_momentum, name=name)(x)


HEAD = {"activation": "softmax"}  # the task's output activation (kopt.models.build_model sets it)


def classifier_head(x, num_classes: int, reg, dropout: float | None = None):
    """Global average pooling (any input size) -> optional dropout -> dense with the task's
    activation (softmax; sigmoid for multilabel; linear for regression)."""
    if len(x.shape) == 4:
        x = layers.GlobalAveragePooling2D(name="gap")(x)
    rate = reg.dropout if dropout is None else dropout
    if rate:
        x = layers.Dropout(float(rate), name="head_dropout")(x)
    return layers.Dense(
        num_classes,
        activation=HEAD["activation"],
        kernel_initializer=INIT,
        kernel_regularizer=kernel_regularizer(reg),
        name="predictions",
    )(x)


def bn_relu(x, reg, name: str):
    """Batch norm (unless ``batchnorm=false``) then ReLU: the pre-activation of ResNet v2, WRN, DenseNet."""
    return layers.Activation("relu", name=f"{name}_relu")(bn(x, reg, name=f"{name}_bn"))


def dropout(x, rate: float, name: str):
    return layers.Dropout(float(rate), name=name)(x) if rate else x


def require_image(family: str, input_shape) -> None:
    from kopt.errors import KoptError

    if len(input_shape) != 3:
        raise KoptError(
            f"model={family} needs image input (H, W, C); this dataset has shape {tuple(input_shape)}; use model=mlp"
        )
