"""Train one fold of a run (:func:`train_fold`): its pipeline, model, fit, best epoch and test-set
evaluation (none in a tune trial). :mod:`kopt.training.run` calls it once per fold with a :class:`FoldContext`."""

from __future__ import annotations

import gc
import math
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from kopt.errors import RunFailed
from kopt.rundir import VAL_ACCURACY, VAL_LOSS, atomic_save_model
from kopt.training.evaluate import inference_copy, test_metrics
from kopt.training.fold import FoldContext, FoldResult


def _relative(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it (what a user would type)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def build_before_tracing(model, strategy, ds) -> None:
    """Create the optimizer's and the compiled metrics' variables before the first train step.

    Without a distribution strategy, Keras' TensorFlow trainer defers them to the trace of the first
    train step, and a tf.function that creates variables is traced twice: every run, fold and trial
    paid for two traces of the whole train step in its first epoch (0.2-0.5 s each on the digits
    CNN). Only shapes and dtypes are needed, so they come from the dataset's element spec."""
    import keras

    build = getattr(model, "_symbolic_build", None)  # (Keras 3's own pre-build under a strategy)
    if strategy is not None or build is None or keras.backend.backend() != "tensorflow":
        return  # under a strategy Keras builds first itself; JAX and torch build before tracing
    batch = keras.tree.map_structure(
        lambda s: SimpleNamespace(shape=tuple(s.shape), dtype=s.dtype.name), ds.element_spec
    )
    build(data_batch=tuple(batch))


def train_fold(ctx: FoldContext) -> FoldResult:
    """Train one fold; with ``ctx.resume``, continue from its newest readable epoch checkpoint in ``ctx.store``."""
    import keras

    from kopt.console import console
    from kopt.data.pipeline import Normalizer, batches_per_pass, make_dataset, train_stream
    from kopt.data.table import fill_vector, filled
    from kopt.models import build_model
    from kopt.optim import build_optimizer
    from kopt.schemas.metrics import check_trainer, direction, resolve_monitor
    from kopt.training import checkpoint, distribute, signals, switches
    from kopt.training.callbacks import BestEpoch, MetricsLogger, Progress
    from kopt.training.metrics import compiled, task_loss, user_loss
    from kopt.training.user_callbacks import user_callbacks

    state, data, fold, n_folds, writer = ctx.state, ctx.data, ctx.fold, ctx.n_folds, ctx.writer
    train_idx, val_idx, test_idx, store, resume = ctx.train_idx, ctx.val_idx, ctx.test_idx, ctx.store, ctx.resume
    callbacks_factory, strategy = ctx.callbacks_factory, ctx.strategy
    cfg, t0 = state.cfg, time.time()
    tr, seed = cfg.trainer, int(cfg.seed)
    # a table's missing numbers (dataset.impute): this fold's values, fitted on its training rows only
    fill = fill_vector(data.encoding, fold)
    x_tr, x_va = filled(data.x[train_idx], fill), filled(data.x[val_idx], fill)
    norm = Normalizer.fit(x_tr)
    if norm.sample is not None:  # image files: the statistics of a sample of the fold, recorded in summary.json
        state.extra["data"].setdefault("normalization", {})[str(fold)] = norm.record()
    x_tr, x_va = norm(x_tr), norm(x_va)
    y_tr, y_va = data.y[train_idx], data.y[val_idx]

    check_trainer(tr, data.task)
    keras.utils.set_random_seed(seed * 1000 + fold)
    augment = None
    if cfg.get("augment") is not None and cfg.augment.name != "none":
        from kopt.data.augment import build_augment  # provided by the augment group

        augment = build_augment(cfg.augment, data, seed * 1000 + fold)
    task = data.task
    if task == "regression":  # one value per sample, as the model's (batch, 1) output
        y_tr, y_va = y_tr.reshape(-1, 1), y_va.reshape(-1, 1)
    # mixup/cutmix mix labels: one-hot targets of classes to fit and validate (values and label sets mix as they are)
    soft = getattr(augment, "soft_labels", False) and task in ("multiclass", "binary")
    if soft:  # (test metrics come from the predicted probabilities and the integer labels)
        y_tr, y_va = (np.eye(data.num_classes, dtype="float32")[y] for y in (y_tr, y_va))
    steps = tr.steps_per_epoch or batches_per_pass(len(x_tr), tr.batch_size)
    switches.check_accumulate(cfg.optimizer, steps, tr.epochs)  # (kopt train checks before its run dir)

    with distribute.scope(strategy):  # trainer.batch_size is the global batch
        with switches.precision(tr):
            model = build_model(cfg.model, cfg.regularizer, data.input_shape, data.outputs, task)
        state.params = int(model.count_params())
        state.extra["steps_per_execution"] = switches.steps_per_execution(tr, state.params, steps, tr.epochs)
        compiled_loss = task_loss(tr, task, soft, data.num_classes)
        own_loss = user_loss(tr)  # (one made for the test set too; None: the task's own)
        smoothing_metrics, unsmoothed = switches.smoothing(tr, soft, data.num_classes) if own_loss is None else ([], [])
        optimizer = build_optimizer(cfg.optimizer, steps, tr.epochs)
        key = (steps, state.extra["steps_per_execution"])  # what the traced steps bake in (kopt.training.reuse)
        kept = ctx.kept.take(model, optimizer, key) if ctx.kept is not None else None
        if kept is not None:
            # the previous fold's compiled model, with this fold's initial values. The fold's own model
            # and optimizer are freed now rather than at some later collection (Keras layers hold
            # reference cycles): a large model's weights and slots, on a GPU too, are not kept twice
            model, optimizer = kept, None
            gc.collect()
        else:
            model.compile(
                optimizer=optimizer,
                loss=compiled_loss,
                metrics=[*compiled(tr, task, soft), *smoothing_metrics],
                steps_per_execution=state.extra["steps_per_execution"],
            )
            if ctx.kept is not None:
                ctx.kept.keep(model, key)
        ckpt = store.load_epoch(fold, model, tr.epochs) if (store is not None and resume) else None
        if ckpt:
            checkpoint.apply_to_model(ckpt, model)
        elif cfg.model.get("init"):  # model.init: the starting weights of a finished run (kopt.models.init_from)
            from kopt.models.init_from import load_weights

            loaded = load_weights(model, str(cfg.model.init), fold, n_folds)
            record = state.extra.setdefault("init", {**loaded, "files": {}})
            record["files"][str(fold)] = loaded["file"]
            record.pop("file", None)
    start = ckpt.epoch if ckpt else 0
    if ckpt:
        console.print(
            f"resuming{f' fold {fold} of {n_folds}' if n_folds > 1 else ''} after epoch {start}/{tr.epochs} "
            f"from {_relative(ckpt.path)}"
        )
    writer.drop(lambda row: row.get("fold") == fold and row.get("epoch", 0) > start)  # epochs trained again
    if ckpt and writer.restore(ckpt.rows):  # rows lost to a damaged metrics.jsonl: from the checkpoint's record
        checkpoint._warn(
            f"{_relative(writer.path)}: rows of fold {fold} up to epoch {start} restored from {ckpt.path.name}"
        )

    # the batch stream starts where epoch `start` ended; validation and test sets are fixed
    ds_tr = distribute.shard(
        train_stream(x_tr, y_tr, tr.batch_size, seed=seed * 1000 + fold, start_batch=start * steps, augment=augment),
        strategy,
    )
    # no validation data (split=refit, the retrain after tuning): no val_* anywhere
    ds_va = distribute.shard(make_dataset(x_va, y_va, tr.batch_size), strategy) if len(y_va) else None
    distribute.prepare_fit(model, strategy, ds_tr)
    if kept is None:
        build_before_tracing(model, strategy, ds_tr)

    best = BestEpoch(state.monitor, tr.get("protocol", "best_epoch"))  # (auto resolved: kopt.training.run)
    early = None
    if tr.early_stopping.enabled:
        es = tr.early_stopping
        monitor = resolve_monitor(es.monitor, tr.get("metrics"), task)
        early = keras.callbacks.EarlyStopping(
            monitor=monitor,
            patience=es.patience,
            min_delta=es.min_delta,
            mode="max" if direction(monitor) == "maximize" else "min",
        )
    progress = None if state.quiet else Progress(fold, n_folds, tr.epochs, steps)
    callbacks = [
        *unsmoothed,  # first: the callbacks after it see val_loss unsmoothed
        MetricsLogger(writer, fold),
        best,
        *switches.ema_callbacks(model),
        keras.callbacks.TerminateOnNaN(),
        *([progress] if progress else []),
        *([early] if early else []),
    ]
    callbacks.extend(user_callbacks(tr))  # trainer.callbacks: yours
    if callbacks_factory is not None:
        callbacks.extend(callbacks_factory(fold, n_folds))
    if store is not None:
        callbacks.append(checkpoint.checkpointer(store, fold, tr.epochs, best, early, ckpt))
    callbacks.append(signals.stop_on_signal())

    weights = None
    if tr.get("class_weight") == "balanced":  # sklearn's n / (C * n_c), from this fold's training labels
        from sklearn.utils.class_weight import compute_class_weight

        classes = np.arange(data.num_classes)
        values = compute_class_weight("balanced", classes=classes, y=data.y[train_idx])
        weights = {int(c): float(w) for c, w in zip(classes, values)}
        state.extra.setdefault("class_weight", {})[str(fold)] = weights
    epochs_run = start
    if ckpt and ckpt.fit_done:  # the checkpoint was written after the last epoch: only evaluation is left
        checkpoint.apply_to_callbacks(ckpt, best, early)
        best.set_model(model)
        switches.finalize(model)  # the EMA into the model, as fit does at its end
    else:
        with signals.training():
            try:
                history = model.fit(
                    ds_tr,
                    validation_data=ds_va,
                    epochs=tr.epochs,
                    initial_epoch=start,
                    steps_per_epoch=steps,
                    callbacks=callbacks,
                    class_weight=weights,
                    verbose=0,
                )
            finally:
                live = getattr(progress, "progress", None)
                if live is not None:
                    live.stop()  # a live progress bar is stopped however fit ended
        losses = history.history.get("loss", [])
        epochs_run = start + len(losses)
        if losses and not all(math.isfinite(v) for v in losses):
            raise RunFailed(
                f"NaN/inf loss at epoch {epochs_run} (fold {fold}); lower optimizer.lr or add optimizer.clipnorm"
            )
    best.restore()
    # the restored weights are the best epoch's, so its logged validation values are theirs
    metrics = {VAL_ACCURACY: best.best_logs.get(VAL_ACCURACY), VAL_LOSS: best.best_logs.get(VAL_LOSS)}
    metrics.update({k: v for k, v in best.best_logs.items() if k.startswith("val_")})  # val_auc, val_mae, ...
    metrics = {k: float(v) for k, v in metrics.items() if v is not None}
    save = bool(tr.checkpoint) and (ctx.keep_model is None or ctx.keep_model(metrics, n_folds))
    inference = inference_copy(model, norm, fill) if (ctx.score_test or save) else None
    probs = None
    if ctx.score_test:
        probs, test = _score_test(inference, model, data, test_idx, tr, task, own_loss)
        metrics.update({k: float(v) for k, v in test.items() if v is not None})
    if save:
        name = "model.keras" if n_folds == 1 else f"model_fold{fold}.keras"
        atomic_save_model(inference, state.run_dir / name)
    return FoldResult(
        fold,
        best.best_epoch,
        epochs_run,
        metrics,
        None if probs is None else probs.astype("float32"),
        time.time() - t0,
    )


def _score_test(inference, model, data, test_idx, tr, task: str, own_loss) -> tuple[np.ndarray, dict]:
    """One pass over the test set: loss and accuracy from the probabilities, as Keras computes them,
    predicted outside the strategy (a copy made out of its scope), whole and in order, on every worker,
    by the very model that model.keras saves, on raw inputs: predictions.npz is what it predicts.
    A tune trial never comes here (``FoldContext.score_test``): the retrain has the study's test score."""
    from kopt.data.pipeline import make_dataset
    from kopt.models.predicting import predict

    y_te = data.y[test_idx]
    probs = predict(inference, make_dataset(data.x[test_idx], y_te, tr.batch_size))
    penalty = float(sum(float(loss) for loss in model.losses)) if model.losses else 0.0
    test = test_metrics(probs, y_te, penalty=penalty, task=task, tr=tr, loss=own_loss)
    if str(tr.get("tta", "none")) != "none":  # kopt.tta: the test set only, reported beside the plain metrics
        from kopt.tta import average

        tta_probs = average(lambda v: predict(inference, v, batch_size=tr.batch_size), data.x[test_idx], tr.tta)
        tta = test_metrics(tta_probs, y_te, penalty, task=task, tr=tr, loss=own_loss)
        test.update({f"{key}_tta": value for key, value in tta.items()})
    return probs, test
