"""Batch normalisation through TensorFlow's fused kernel, and a plain-Keras copy for saving.

Keras 3 normalises with separate moments / normalise ops: several passes over every activation
map, memory-bound work that on a CPU costs about as much as the small convolutions of a CIFAR
ResNet. TensorFlow's FusedBatchNormV3 does it in one pass (and its gradient in one more): about
a quarter less CPU time per image for ResNet-20 (benchmarks/train_throughput.py). The layer keeps
the Keras layer's weights, config and results, so a saved model is turned back into plain Keras
layers (:func:`plain_keras_copy`) and loads without kopt.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="kopt")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` computed by ``FusedBatchNormV3`` on the TensorFlow backend.

    Falls back to the Keras computation where the fused kernel does not apply: another backend,
    a mask, renorm, synchronized statistics, input that is not 4-D channels-last, no centre/scale,
    or an epsilon below the kernel's minimum.
    """

    def _fusable(self, inputs, mask) -> bool:
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and not self.renorm
            and not self.synchronized
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and self.center
            and self.scale
            and self.epsilon > 1.001e-5
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = tf.cast(inputs, "float32")  # as the Keras layer: statistics in float32
        if training and self.trainable:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                x, self.gamma, self.beta, epsilon=self.epsilon, is_training=True
            )
            # the kernel returns the unbiased batch variance; Keras averages the biased one
            n = tf.cast(tf.size(x) // tf.shape(x)[-1], variance.dtype)
            variance = variance * (n - 1.0) / tf.maximum(n, 1.0)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x,
                self.gamma,
                self.beta,
                mean=self.moving_mean,
                variance=self.moving_variance,
                epsilon=self.epsilon,
                is_training=False,
            )
        return tf.cast(y, self.compute_dtype)


def plain_keras_copy(model):
    """A copy of ``model`` (no optimizer) whose fused batch-norm layers are ``keras.layers.BatchNormalization``
    with the same config and weights: the saved file then loads in plain Keras, without kopt."""

    def clone(layer):
        cls = keras.layers.BatchNormalization if isinstance(layer, FusedBatchNormalization) else layer.__class__
        return cls.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    for source, target in zip(model.layers, copy.layers):
        target.set_weights(source.get_weights())
    return copy


def has_fused_batchnorm(model) -> bool:
    return any(isinstance(layer, FusedBatchNormalization) for layer in model._flatten_layers())
