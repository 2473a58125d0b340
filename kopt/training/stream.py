"""The training batches of a fold as an endless, resumable stream.

Pass ``p`` over the training data is shuffled with a seed derived from (run seed, fold, p)
only, so the stream started at any batch is the same sequence as the one from the start:
a run resumed at epoch ``e`` sees exactly the batches an uninterrupted run would have.
Each pass is shuffle -> batch -> augment, as in kopt.data.pipeline.make_dataset; the augment
seed of each batch is derived from (seed, pass, batch) too, so augmentations resume exactly.
"""

from __future__ import annotations

import math

import numpy as np

from kopt.data.pipeline import PREFETCH_BATCHES, fixed_options, map_calls


def batches_per_pass(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


def train_stream(x: np.ndarray, y: np.ndarray, batch_size: int, *, seed: int, start_batch: int = 0,
                 augment=None):
    """Batches of passes ``start_batch // per_pass`` on, the first ``start_batch % per_pass`` skipped."""
    import tensorflow as tf

    per_pass = batches_per_pass(len(x), batch_size)
    first_pass, skip = divmod(int(start_batch), per_pass)
    with tf.device("/CPU:0"):  # tf.data runs on the host: keep the arrays there, not on a GPU
        features, labels = tf.constant(x), tf.constant(y)
    n, base_seed = len(x), tf.constant(int(seed), tf.int64)

    def one_pass(p):
        # a stateless permutation: a pure function of (seed, p), whatever ran before
        order = tf.argsort(tf.random.stateless_uniform([n], seed=tf.stack([base_seed, p]), dtype=tf.float32))
        ds = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
        if augment is None:
            return ds.map(lambda idx: (tf.gather(features, idx), tf.gather(labels, idx)))

        def augmented(b, idx):  # batch b of pass p: its augmentation seed depends on (seed, p, b) only
            batch_seed = tf.random.stateless_uniform([], seed=tf.stack([base_seed, p * 1_000_003 + b]),
                                                     minval=None, maxval=None, dtype=tf.int64)
            return augment(tf.gather(features, idx), tf.gather(labels, idx), batch_seed)

        return ds.enumerate().map(augmented, num_parallel_calls=map_calls(), deterministic=True)

    ds = tf.data.Dataset.range(first_pass, np.iinfo(np.int64).max).flat_map(one_pass)
    return ds.skip(skip).prefetch(PREFETCH_BATCHES).with_options(fixed_options())  # no autotuner: see there
