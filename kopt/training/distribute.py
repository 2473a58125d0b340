"""`trainer.strategy`: data-parallel training with TensorFlow's own tf.distribute strategies.

- ``default``: no strategy (one device).
- ``mirrored``: MirroredStrategy over all local GPUs (or the CPU when there are none).
- ``multi_worker``: MultiWorkerMirroredStrategy; the cluster comes from ``trainer.workers``
  (``host:port`` list) + ``trainer.task_index``, or else from the ``TF_CONFIG`` environment variable.

``trainer.batch_size`` is the global batch: tf.distribute splits each batch across replicas and, in
multi-worker mode, shards the data by element (auto-shard policy DATA: the datasets are in memory,
not files). Only the chief writes a run dir. The cluster spec (``cluster``) is read in
:mod:`kopt.schemas.trainer`, so config validation needs nothing from here.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import nullcontext

from kopt.errors import KoptError
from kopt.schemas.trainer import cluster  # a config fact: validation checks it without this module


def is_chief(tr) -> bool:
    """Whether this process writes the run dir: always, except for non-chief multi-worker tasks."""
    spec = cluster(tr)
    if spec is None:
        return True
    task = spec["task"]
    if "chief" in spec["cluster"]:
        return task["type"] == "chief"
    return task["type"] == "worker" and int(task["index"]) == 0


def scratch_run_dir(cfgs: list, multirun: bool) -> str | None:
    """A temp dir for a non-chief worker's Hydra run dir (removed afterwards), so it writes nothing
    under runs/; None for a chief or a plain run."""
    kinds = {cfg.trainer.get("strategy", "default") for cfg in cfgs}
    if "multi_worker" not in kinds:
        return None
    if multirun:
        raise KoptError("trainer.strategy=multi_worker trains one config with several processes; drop -m")
    return None if is_chief(cfgs[0].trainer) else tempfile.mkdtemp(prefix="kopt-worker-")


_strategies: dict = {}  # one per kind and process: MultiWorkerMirroredStrategy may be created only once


def get_strategy(tr):
    """The tf.distribute strategy for ``trainer`` (None for ``default``). Creates it on first use;
    ``run_train`` resolves it once per run and hands it to :func:`scope`, :func:`shard` and
    :func:`prepare_fit`."""
    kind = tr.get("strategy", "default")
    if kind == "default":
        return None
    if kind in _strategies:
        return _strategies[kind]
    import keras

    if keras.backend.backend() != "tensorflow":  # multi_worker was refused with the config (kopt.backend)
        from kopt.console import console

        console.print(
            f"kopt: notice: trainer.strategy={kind} is tf.distribute, which runs on the tensorflow "
            f"backend only; training on one device with {keras.backend.backend()}"
        )
        _strategies[kind] = None
        return None
    import tensorflow as tf

    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        strategy = tf.distribute.MirroredStrategy([d.name for d in gpus] or ["/cpu:0"])
    else:
        os.environ["TF_CONFIG"] = json.dumps(cluster(tr))
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        _average_scalar_metrics_across_workers()
    _strategies[kind] = strategy
    return strategy


def _average_scalar_metrics_across_workers() -> None:
    """Work around Keras 3.15 under multi_worker (tensorflow/tensorflow#72388): it averages each logged
    metric across workers with ``strategy.reduce("MEAN", v, axis=0)``, which fails on the scalars fit
    logs. Average them over the replicas instead (axis=None); every worker holds an equal data shard."""
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    if getattr(original, "kopt_patched", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    reduce_per_replica.kopt_patched = True
    trainer.reduce_per_replica = reduce_per_replica


def scope(strategy):
    """Build the model and its optimizer inside this context (``strategy``: :func:`get_strategy`'s)."""
    return strategy.scope() if strategy is not None else nullcontext()


def prepare_fit(model, strategy, ds) -> None:
    """Work around Keras 3.15 under multi_worker: before fit/evaluate it builds the model from the
    first batch reduced with ``strategy.reduce``, which MultiWorkerMirroredStrategy cannot do for an
    (x, y) pair (ValueError on a PerReplica). Only shapes are needed, so build from one local batch."""
    if strategy is None:
        return
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    batch = next(iter(ds.take(1)))

    def build_from_local_batch(iterator=None, data_batch=None):
        with strategy.scope():
            model._symbolic_build(data_batch=batch)

    model._maybe_symbolic_build = build_from_local_batch


def shard(ds, strategy):
    """Shard in-memory datasets by element across workers (files cannot be split here)."""
    if strategy is None:
        return ds
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)
