"""tf.data input pipelines. Normalisation statistics come from the training fold only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kopt.procs import usable_cores


@dataclass
class Normalizer:
    """Per-channel (images) or per-feature (tabular) mean/std, fitted on training data only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x_train: np.ndarray) -> "Normalizer":
        axes = tuple(range(x_train.ndim - 1))  # all but the channel/feature axis
        mean = x_train.mean(axis=axes, dtype=np.float64)
        std = x_train.std(axis=axes, dtype=np.float64)
        std = np.where(std < 1e-7, 1.0, std)  # constant features: leave them centred
        return cls(mean.astype("float32"), std.astype("float32"))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype("float32")


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, *, training: bool, seed: int,
                 augment=None):
    """cache -> shuffle (training) -> batch -> augment (training, parallel map) -> prefetch.

    ``augment(x, y, batch_seed)`` (see :mod:`kopt.data.augment`) gets a fresh seed per batch from
    ``Dataset.random``, different every epoch and the same for the same ``seed``.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if training and augment is not None:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip(ds, seeds).map(lambda batch, s: augment(batch[0], batch[1], s),
                                               num_parallel_calls=map_calls(), deterministic=True)
    return ds.prefetch(PREFETCH_BATCHES).with_options(fixed_options())


PREFETCH_BATCHES = 2


def map_calls() -> int:
    """Parallel calls of an augmentation map: TensorFlow's intra-op thread count where it is set
    (trainer.intra_threads, or a tune worker's share of the cores), else one per usable core."""
    import tensorflow as tf

    return tf.config.threading.get_intra_op_parallelism_threads() or usable_cores()


def fixed_options():
    """tf.data's autotuner off, with fixed settings instead (one map call per core, two batches
    prefetched). On a few CPU cores the autotuner stalls training: with it on, about one epoch in
    two took 1.5x as long, at the same CPU time, with or without augmentation (ResNet-20, 2 cores;
    benchmarks/pipeline_throughput.py)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return options
