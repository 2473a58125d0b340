"""Checks of a ``kopt train`` command line that need more than its config (the machine, the
data), made after validation and before any run dir exists: a refusal is then one line, with no
failed run dir left behind. :mod:`kopt.training.fit` and :mod:`kopt.training.switches` make the same
checks in every run (a tune trial, a resumed run), where they end the run as failed."""

from __future__ import annotations


def _batches_per_epoch(cfg) -> int:
    """The fewest training batches per epoch of any fold: the splits of the data as the run makes them."""
    tr = cfg.trainer
    if tr.get("steps_per_epoch"):
        return int(tr.steps_per_epoch)
    from kopt.backend import select

    select(tr.get("backend"))  # (a loader may import Keras: on the run's backend, as the run will)
    from kopt.data.datasets import load_dataset
    from kopt.data.pipeline import batches_per_pass
    from kopt.data.splits import make_splits

    data = load_dataset(cfg.dataset, int(cfg.seed))
    splits = make_splits(cfg.split, data.y, int(cfg.seed), fixed_test=data.test_idx)
    return min(batches_per_pass(len(train), int(tr.batch_size)) for train, _ in splits.folds)


def check_runs(cfgs, multirun: bool) -> None:
    """``trainer.precision=mixed_float16`` on a machine without a GPU (TensorFlow loads for it), and,
    for a single run, ``optimizer.accumulate`` above the batches of the whole run (the data loads for
    it: only with ``optimizer.accumulate`` > 1; a multirun's jobs check it as they start)."""
    from kopt.training.switches import check_accumulate, check_precision

    for cfg in cfgs:
        check_precision(str(cfg.trainer.get("precision") or "float32"))
    for cfg in cfgs:
        if not multirun and int(cfg.optimizer.get("accumulate") or 1) > 1:
            check_accumulate(cfg.optimizer, _batches_per_epoch(cfg), int(cfg.trainer.epochs))
