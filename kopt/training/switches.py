"""Training switches that Keras 3 provides and kopt exposes as config keys; run.py calls in here.

- ``trainer.label_smoothing``: the loss (sparse integer labels smoothed through a one-hot), and
  ``val_loss`` logged unsmoothed (:func:`smoothing`).
- ``trainer.precision``: the Keras dtype policy the model is built under (float32, mixed_bfloat16,
  mixed_float16; the last needs a GPU). Keras wraps the optimizer in a LossScaleOptimizer for
  mixed_float16 itself.
- ``trainer.steps_per_execution``: batches per compiled call; ``auto`` picks it from the model's
  size, the batches per epoch and the run's length (one for a short run). Always a divisor of the batches per epoch: Keras runs whole
  executions, so any other value would run past the epoch's end into the next epoch's batches.
- ``optimizer.ema`` (built in kopt.optim): :class:`EmaWeights` swaps the average into the model
  for validation and the best-epoch copy, and back before the epoch checkpoint, so that a resumed
  run continues from the raw weights; Keras' ``finalize_variable_values`` puts the average in the
  model at the end of fit, and :func:`finalize` does the same for a fold resumed after its last epoch.
"""

from __future__ import annotations

from contextlib import contextmanager

AUTO_CAPS = ((1_000_000, 16), (10_000_000, 4))  # (parameters below, at most this many steps per execution)
# A run of at most this many batches (epochs x batches per epoch) gets one step per execution under
# auto: Keras' multi-step loop (a while loop in the graph) takes about 0.2 s longer to trace on CPU
# than a single step, and saves a few ms of dispatch per batch, which pays back after some 50-100
# batches (benchmarks/NOTES.md). Short runs are most of a study's pruned and early trials.
SHORT_RUN_BATCHES = 48


def loss(tr, soft: bool, classes: int):
    """The compiled loss: cross-entropy, with ``trainer.label_smoothing`` when it is above 0."""
    import keras

    smoothing = float(tr.get("label_smoothing") or 0.0)
    if soft:  # mixup/cutmix give one-hot (mixed) targets
        return (
            keras.losses.CategoricalCrossentropy(label_smoothing=smoothing) if smoothing else "categorical_crossentropy"
        )
    if not smoothing:
        return "sparse_categorical_crossentropy"
    from kopt.training.losses import SparseSmoothedCrossentropy  # registered: a clone of the model rebuilds it

    return SparseSmoothedCrossentropy(classes, smoothing)


def smoothing(tr, soft: bool, classes: int) -> tuple[list, list]:
    """``(metrics, callbacks)`` that log ``val_loss`` unsmoothed under ``trainer.label_smoothing``
    (``([], [])`` without it): the compiled loss is smoothed, and so would be Keras' ``val_loss``,
    which ``tuner.metric``, ``trainer.monitor`` and early stopping then compared across smoothings."""
    value = float(tr.get("label_smoothing") or 0.0)
    if not value:
        return [], []
    from kopt.training.losses import UnsmoothedValLoss, smoothing_metrics

    return smoothing_metrics(classes, value, soft), [UnsmoothedValLoss()]


def check_accumulate(optimizer, steps: int, epochs: int) -> None:
    """One line where ``optimizer.accumulate`` is more than the batches of the whole run
    (``epochs`` of ``steps`` batches): no update would ever be applied, and the run would end at
    chance accuracy in silence. A last group the run ends inside is dropped, as Keras drops it."""
    k, total = int(optimizer.get("accumulate") or 1), steps * epochs
    if k > total:
        from kopt.errors import KoptError

        raise KoptError(
            f"optimizer.accumulate={k} is more than the {total} batches of the whole run (trainer.epochs={epochs} "
            f"of {steps} batches): no update would be applied; allowed: optimizer.accumulate <= {total}"
        )


def check_precision(name: str) -> None:
    """One line where this machine cannot run ``trainer.precision=name``."""
    if name != "mixed_float16":
        return
    import tensorflow as tf

    from kopt.errors import KoptError

    if not tf.config.list_physical_devices("GPU"):
        raise KoptError(
            "trainer.precision=mixed_float16 needs a GPU and this machine has none (float16 on the CPU "
            "is emulated, slower than float32); allowed here: float32, mixed_bfloat16"
        )


@contextmanager
def precision(tr):
    """Layers built inside take ``trainer.precision`` as their dtype policy; the global policy is
    restored afterwards (kopt tune trains many configs in one process)."""
    import keras

    name = str(tr.get("precision") or "float32")
    check_precision(name)
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def steps_per_execution(tr, params: int, steps: int, epochs: int | None = None) -> int:
    """``trainer.steps_per_execution`` for a fold of ``steps`` batches per epoch: the largest divisor
    of ``steps`` not above the request (``auto``: 16 below 1M parameters, 4 below 10M, else 1; and
    1 for a run of ``epochs`` x ``steps`` <= :data:`SHORT_RUN_BATCHES` batches)."""
    value = tr.get("steps_per_execution", "auto")
    if tr.get("strategy") == "multi_worker":
        # Keras 3's multi-step loop over a multi-worker iterator fails ("You must feed a value for
        # placeholder tensor ... multi_step_on_iterator"): one batch per call there
        cap = 1
    elif value in (None, "auto"):
        short = epochs is not None and epochs * steps <= SHORT_RUN_BATCHES
        cap = 1 if short else next((n for limit, n in AUTO_CAPS if params < limit), 1)
    else:
        cap = int(value)
    return max(n for n in range(1, min(cap, steps) + 1) if steps % n == 0)


def _inner(optimizer):
    return getattr(optimizer, "inner_optimizer", optimizer)  # a LossScaleOptimizer (mixed_float16) wraps it


def uses_ema(model) -> bool:
    return bool(getattr(_inner(model.optimizer), "use_ema", False))


def swap_average(model) -> None:
    """Exchange the model's trainable weights with the optimizer's moving average of them."""
    opt = _inner(model.optimizer)
    for var, average in zip(opt._trainable_variables, opt._model_variables_moving_average):
        if average is not None:
            raw = var.numpy()
            var.assign(average)
            average.assign(raw)


def finalize(model) -> None:
    """The average in the model, as Keras' fit leaves it (for a fold whose fit had already ended)."""
    if uses_ema(model):
        _inner(model.optimizer).finalize_variable_values(model.trainable_variables)


def ema_callbacks(model) -> list:
    """``[EmaWeights]`` with ``optimizer.ema`` on, else ``[]``. Put it right after BestEpoch and before the
    checkpointer: validation and BestEpoch see the average, the epoch checkpoint the raw weights."""
    if not uses_ema(model):
        return []
    import keras

    class EmaWeights(keras.callbacks.Callback):
        swapped = False

        def on_test_begin(self, logs=None):  # validation inside fit
            if not self.swapped:
                swap_average(self.model)
                self.swapped = True

        def on_epoch_end(self, epoch, logs=None):
            if self.swapped:
                swap_average(self.model)
                self.swapped = False

    return [EmaWeights()]
