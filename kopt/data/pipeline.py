"""The input pipeline: one for training, used by ``run_train`` and the benchmarks alike, and one
for evaluation. Normalisation statistics come from the training fold only.

:func:`train_stream` gives the training batches of a fold as an endless, resumable stream.
Pass ``p`` over the training data is shuffled with a seed derived from (run seed, fold, p)
only, so the stream started at any batch is the same sequence as the one from the start:
a run resumed at epoch ``e`` sees exactly the batches an uninterrupted run would have.
Each pass is shuffle -> batch -> augment (parallel map) -> prefetch; the augment seed of each
batch is derived from (seed, pass, batch) too, so augmentations resume exactly.
:func:`make_dataset` gives the evaluation batches: in order, never augmented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kopt.procs import usable_cores


@dataclass
class Normalizer:
    """Per-channel (images) or per-feature (tabular) mean/std, fitted on training data only."""

    mean: np.ndarray
    std: np.ndarray

    sample: int | None = None  # images streamed from files: the statistics come from this many of them

    @classmethod
    def fit(cls, x_train: np.ndarray) -> Normalizer:
        """Fitted on ``x_train``; on a sample of it (kopt.data.images.SAMPLE) when it is image files."""
        sample = None
        if hasattr(x_train, "decode_fn"):  # image files: a sample of the training fold, decoded
            x_train = x_train.sample()
            sample = len(x_train)
        axes = tuple(range(x_train.ndim - 1))  # all but the channel/feature axis
        mean = x_train.mean(axis=axes, dtype=np.float64)
        std = x_train.std(axis=axes, dtype=np.float64)
        std = np.where(std < 1e-7, 1.0, std)  # constant features: leave them centred
        return cls(mean.astype("float32"), std.astype("float32"), sample)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if hasattr(x, "decode_fn"):  # image files: normalised as they are decoded
            return x.normalized(self.mean, self.std)
        return ((x - self.mean) / self.std).astype("float32")

    def record(self) -> dict:
        """What the run records of it: per-channel (feature) mean and std, and the sample size."""
        out = {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}
        return {**out, "sample": self.sample} if self.sample is not None else out


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int):
    """The evaluation batches (validation, test, prediction): cache -> batch -> prefetch, in order,
    never shuffled or augmented. Training batches come from :func:`train_stream`."""
    import tensorflow as tf

    if hasattr(x, "decode_fn"):  # image files: read and decoded in a parallel map, never cached
        images = tf.data.Dataset.from_tensor_slices(x.files).map(
            x.decode_fn(), num_parallel_calls=map_calls(), deterministic=True
        )
        ds = tf.data.Dataset.zip((images, tf.data.Dataset.from_tensor_slices(y))).batch(batch_size)
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, y)).cache().batch(batch_size)
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


def plain(fn):
    """``fn`` as tf.data traces it, without AutoGraph's rewrite of its source: the pipeline's
    functions hold no Python control flow on tensors (augmentations are Keras layers, which
    AutoGraph never converts), and the rewrite cost about 0.3 s of each `kopt` process on 2 CPU
    cores (a study's first trial; AutoGraph caches it for the later ones), for nothing
    (benchmarks/NOTES.md)."""
    import tensorflow as tf

    return tf.autograph.experimental.do_not_convert(fn)


def batches_per_pass(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


def train_stream(x: np.ndarray, y: np.ndarray, batch_size: int, *, seed: int, start_batch: int = 0, augment=None):
    """Batches of passes ``start_batch // per_pass`` on, the first ``start_batch % per_pass`` skipped."""
    import tensorflow as tf

    per_pass = batches_per_pass(len(x), batch_size)
    first_pass, skip = divmod(int(start_batch), per_pass)
    files = hasattr(x, "decode_fn")  # image files: each batch's files read and decoded in a parallel map
    with tf.device("/CPU:0"):  # tf.data runs on the host: keep the arrays there, not on a GPU
        features, labels = tf.constant(x.files if files else x), tf.constant(y)
    n, base_seed = len(x), tf.constant(int(seed), tf.int64)
    decode = x.decode_fn() if files else None

    def batch_seed(p, b):  # batch b of pass p: its augmentation seed depends on (seed, p, b) only
        return tf.random.stateless_uniform(
            [], seed=tf.stack([base_seed, p * 1_000_003 + b]), minval=None, maxval=None, dtype=tf.int64
        )

    def one_pass(p):
        # a stateless permutation: a pure function of (seed, p), whatever ran before
        order = tf.argsort(tf.random.stateless_uniform([n], seed=tf.stack([base_seed, p]), dtype=tf.float32))
        if files:  # one file per element: read and decoded in parallel, in order, then batched
            ds = tf.data.Dataset.from_tensor_slices(order).map(
                plain(lambda i: (decode(tf.gather(features, i)), tf.gather(labels, i))),
                num_parallel_calls=map_calls(),
                deterministic=True,
            )
            ds = ds.batch(batch_size)
            if augment is None:
                return ds
            return ds.enumerate().map(
                plain(lambda b, batch: augment(batch[0], batch[1], batch_seed(p, b))),
                num_parallel_calls=map_calls(),
                deterministic=True,
            )
        ds = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
        if augment is None:
            return ds.map(plain(lambda idx: (tf.gather(features, idx), tf.gather(labels, idx))))

        def augmented(b, idx):
            return augment(tf.gather(features, idx), tf.gather(labels, idx), batch_seed(p, b))

        return ds.enumerate().map(plain(augmented), num_parallel_calls=map_calls(), deterministic=True)

    ds = tf.data.Dataset.range(first_pass, np.iinfo(np.int64).max).flat_map(plain(one_pass))
    return ds.skip(skip).prefetch(PREFETCH_BATCHES).with_options(fixed_options())  # no autotuner: see there
