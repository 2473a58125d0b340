"""Images read from disk as they are needed (``dataset=images``): :class:`FileImages` is what a
:class:`kopt.data.base.Data` holds as ``x`` for an image folder: the list of files and the shape
of one decoded image, never the decoded set.

Indexing it (``x[idx]``) gives the files of a split, so splits, ``dataset.limit`` and folds are
made on indices as for arrays. The pipeline (:mod:`kopt.data.pipeline`) reads, decodes and
resizes each fold's files in a parallel ``tf.data`` map, then normalises; :meth:`FileImages.sample`
decodes a sample of a training fold for the normalisation statistics. ``np.asarray(x)`` decodes
every file (for the few readers that need arrays: test-time augmentation, ``kopt lr-find``,
``kopt predict dataset=images``). Files decode as ``keras.utils.image_dataset_from_directory``
decodes them (``tf.image.decode_image``, then a bilinear resize to ``image_size``), so the numbers
are the ones the in-memory loader gave.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from kopt.errors import KoptError

CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
SAMPLE = 1000  # images of a training fold decoded for its normalisation statistics
DECODE_BATCH = 256


def image_files(folder: Path, class_names: list[str], suffixes: tuple[str, ...]) -> tuple[list[str], list[int]]:
    """Every image under each class folder, in the order image_dataset_from_directory lists them
    (os.walk sorted by folder, files sorted), and its class index."""
    files, labels = [], []
    for label, name in enumerate(class_names):
        for root, _, names in sorted(os.walk(folder / name, followlinks=True), key=lambda w: w[0]):
            for fname in sorted(names):
                if fname.lower().endswith(suffixes):
                    files.append(os.path.join(root, fname))
                    labels.append(label)
    return files, labels


class FileImages:
    """Image files decoded on demand to float32 ``(H, W, C)`` in the 0..255 range, with an optional
    normalisation (mean, std) applied after decoding (:meth:`normalized`)."""

    ndim = 4
    dtype = np.dtype("float32")

    def __init__(self, files, size, channels: int, norm=None):
        self.files = np.asarray(files, dtype=str)
        self.size = (int(size[0]), int(size[1]))
        self.channels = int(channels)
        self.norm = norm  # (mean, std) float32 arrays of (C,), or None: raw pixel values

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.files), *self.size, self.channels)

    def __len__(self) -> int:
        return len(self.files)

    def _with(self, files, norm) -> FileImages:
        return FileImages(files, self.size, self.channels, norm)

    def __getitem__(self, idx) -> FileImages:
        idx = np.asarray(idx)
        return self._with(self.files[idx] if idx.ndim else self.files[idx : idx + 1], self.norm)

    def normalized(self, mean, std) -> FileImages:
        return self._with(self.files, (np.asarray(mean), np.asarray(std)))

    def decode_fn(self):
        """path -> float32 (H, W, C): read, decode, resize (as image_dataset_from_directory), normalise."""
        import tensorflow as tf

        from kopt.data.pipeline import plain

        height, width = self.size
        channels, norm = self.channels, self.norm
        mean, std = (tf.constant(norm[0], tf.float32), tf.constant(norm[1], tf.float32)) if norm else (None, None)

        def decode(path):
            image = tf.image.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
            image = tf.image.resize(image, (height, width), method="bilinear")
            image.set_shape((height, width, channels))
            return (image - mean) / std if norm else image

        return plain(decode)

    def dataset(self, batch_size: int = DECODE_BATCH):
        """The decoded images in order, batched (a parallel map, prefetched)."""
        import tensorflow as tf

        from kopt.data.pipeline import PREFETCH_BATCHES, fixed_options, map_calls

        ds = tf.data.Dataset.from_tensor_slices(self.files).map(
            self.decode_fn(), num_parallel_calls=map_calls(), deterministic=True
        )
        return ds.batch(batch_size).prefetch(PREFETCH_BATCHES).with_options(fixed_options())

    def decoded(self) -> np.ndarray:
        """Every image, decoded (memory: the whole set); a file that does not decode is one line naming it."""
        if not len(self):
            return np.zeros(self.shape, "float32")
        try:
            return np.concatenate([b.numpy() for b in self.dataset()]).astype("float32", copy=False)
        except Exception:  # tf.errors.InvalidArgumentError: which file is not said; find it
            raise self.decode_error() from None

    def __array__(self, dtype=None, copy=None):
        x = self.decoded()
        return x if dtype is None else x.astype(dtype)

    def sample(self, k: int | None = None) -> np.ndarray:
        """Up to ``k`` (:data:`SAMPLE`) images, decoded, chosen by a fixed rule (the same sample on a resumed run)."""
        k = SAMPLE if k is None else k
        if len(self) <= k:
            return self.decoded()
        pick = np.sort(np.random.default_rng(len(self)).choice(len(self), size=k, replace=False))
        return self[pick].decoded()

    def decode_error(self) -> KoptError:
        """The first file that does not decode, named (one file at a time: only after a batch failed)."""
        import tensorflow as tf

        decode = self.decode_fn()
        for path in self.files:
            try:
                decode(tf.constant(path))
            except Exception as exc:
                reason = " ".join(str(getattr(exc, "message", exc)).split())[:200]
                return KoptError(f"{path}: cannot decode this image ({type(exc).__name__}: {reason})")
        return KoptError(f"cannot decode the images of {len(self)} file(s) ({self.files[0]}, ...)")


class FileExamples(FileImages):
    """Files turned into examples by a function of yours (``dataset=custom`` returning ``files`` and
    ``decode``): ``decode(path) -> array`` of one example's shape, called in the pipeline's parallel
    map (through ``tf.numpy_function``); the shape is the first file's."""

    def __init__(self, files, decode, example_shape, where: str, norm=None):
        self.files = np.asarray(files, dtype=str)
        self.decode, self.example_shape, self.where, self.norm = decode, tuple(example_shape), where, norm

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.files), *self.example_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.example_shape)

    def _with(self, files, norm) -> FileExamples:
        return FileExamples(files, self.decode, self.example_shape, self.where, norm)

    def read(self, path: str) -> np.ndarray:
        """One example, checked against the first one's shape; a failure is one line naming the file."""
        try:
            example = np.asarray(self.decode(path), dtype="float32")
        except Exception as exc:
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise KoptError(f"{self.where}: decode({path!r}) raised {type(exc).__name__} ({reason})") from None
        if example.shape != self.example_shape:
            raise KoptError(
                f"{self.where}: decode({path!r}) returned shape {example.shape}; the first file's is {self.example_shape}"
            )
        if not np.isfinite(example).all():
            raise KoptError(f"{self.where}: decode({path!r}) returned NaN/inf values")
        return example

    def decode_fn(self):
        import tensorflow as tf

        from kopt.data.pipeline import plain

        norm, shape = self.norm, self.example_shape
        mean, std = (tf.constant(norm[0], tf.float32), tf.constant(norm[1], tf.float32)) if norm else (None, None)

        def decode(path):
            example = tf.numpy_function(lambda p: self.read(p.decode()), [path], tf.float32, stateful=False)
            example.set_shape(shape)
            return (example - mean) / std if norm else example

        return plain(decode)

    def decoded(self) -> np.ndarray:
        examples = np.stack([self.read(str(p)) for p in self.files]) if len(self) else np.zeros(self.shape)
        if self.norm:
            examples = (examples - self.norm[0]) / self.norm[1]
        return examples.astype("float32", copy=False)

    def decode_error(self) -> KoptError:
        for path in self.files:
            self.read(str(path))  # raises, naming the file
        return KoptError(f"{self.where}: cannot decode the examples of {len(self)} file(s)")
