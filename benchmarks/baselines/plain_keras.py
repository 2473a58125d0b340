"""The hand-written baseline for benchmarks/overhead.py: the same CNN on the same digits data,
trained with a minimal plain Keras script (no kopt). Prints per-epoch times as JSON."""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
from keras import layers
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.t0)


def cnn(filters=32, blocks=2, dense=128):
    inputs = keras.Input((8, 8, 1))
    x = inputs
    for b in range(blocks):
        for _ in range(2):
            x = layers.Conv2D(filters * 2**b, 3, padding="same", use_bias=False, kernel_initializer="he_normal")(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(dense, activation="relu", kernel_initializer="he_normal")(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax", kernel_initializer="he_normal")(x))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    keras.utils.set_random_seed(a.seed)
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    d = load_digits()
    x, y = d.images[..., None].astype("float32"), d.target
    x_pool, x_test, y_pool, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=a.seed)
    x_tr, x_va, y_tr, y_va = train_test_split(x_pool, y_pool, test_size=0.2, stratify=y_pool, random_state=a.seed)
    mean, std = x_tr.mean(), x_tr.std()
    x_tr, x_va, x_test = (x_tr - mean) / std, (x_va - mean) / std, (x_test - mean) / std
    model = cnn()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    model.fit(x_tr, y_tr, validation_data=(x_va, y_va), epochs=a.epochs, batch_size=64, callbacks=[timer], verbose=0)
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    print(json.dumps({"epoch_times": timer.times, "test_accuracy": acc}))


if __name__ == "__main__":
    main()
