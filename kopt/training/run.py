"""One training run, in phases: prepare -> data and splits -> per fold (pipeline, model, fit, best epoch,
test) -> finish (predictions, summary.json)."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from omegaconf import DictConfig, OmegaConf

from kopt.errors import Interrupted, KoptError, RunFailed
from kopt.rundir import (
    COMPLETED,
    FAILED,
    FOLDS_AVERAGED,
    INTERRUPTED,
    METRICS,
    PREDICTIONS,
    RUNNING,
    SPLITS,
    SUMMARY,
    MetricsWriter,
    Summary,
    atomic_savez,
    atomic_write_text,
    check_writable,
    fold_means,
    read_summary,
    write_summary,
)
from kopt.training.fit import _relative, train_fold
from kopt.training.fold import FoldContext, FoldResult

if TYPE_CHECKING:
    from kopt.data.splits import Splits

CallbackFactory = Callable[[int, int], list]  # (fold, n_folds) -> extra Keras callbacks


@dataclass
class TrialMode:
    """How a tune trial runs (kopt.tune.running.trial): what its study needs and nothing more. Its
    folds score validation only (the search never sees the test set; the retrain has the study's
    one test score), it writes no predictions.npz and draws no curves.png (the study draws them
    when it ends), and a fold saves its model only where ``keep_model(fold metrics, n_folds)`` is true
    (None: wherever trainer.checkpoint says)."""

    keep_model: Callable[[dict, int], bool] | None = None


GROUPS = ("model", "dataset", "split", "regularizer", "augment", "optimizer")


def choices(cfg: DictConfig) -> dict[str, str]:
    """The option picked in each config group (the header line, summary.json's ``choices``)."""
    return {g: str(cfg[g].get("name")) for g in GROUPS if g in cfg and cfg[g] is not None}


def header_items(cfg: DictConfig) -> dict[str, str]:
    """The header line: the group choices and the Keras backend (kopt.backend)."""
    from kopt.backend import resolve

    return {**choices(cfg), "backend": resolve(cfg.trainer.get("backend"))}


@dataclass
class RunState:
    cfg: DictConfig
    run_dir: Path
    started: float = field(default_factory=time.time)
    folds: list[FoldResult] = field(default_factory=list)
    params: int = 0
    extra: dict = field(default_factory=dict)
    quiet: bool = False  # no terminal output (kopt tune draws its own)
    monitor: str | None = None  # trainer.monitor, auto resolved once the data tells the task

    def choices(self) -> dict[str, str]:
        return choices(self.cfg)

    def summary(self, status: str, error: str | None = None) -> Summary:
        rows = [f.row() for f in self.folds]
        from kopt.runtime import versions

        summary = Summary(
            status=status,
            metrics=fold_means(rows),
            folds=rows,
            params=self.params,
            duration_s=time.time() - self.started,
            seed=int(self.cfg.seed),
            protocol=str(self.cfg.trainer.get("protocol", "best_epoch")),  # kopt.protocol
            monitor=self.monitor,
            choices=self.choices(),
            run_dir=str(self.run_dir),
            started_at=datetime.fromtimestamp(self.started, UTC).isoformat(),
            finished_at=datetime.now(UTC).isoformat(),
            versions=versions(),
            error=error or None,
        )
        return Summary.from_dict({**summary.to_dict(), **self.extra})  # pid, host, data; a resume's started_at

    def write(self, status: str, error: str | None = None) -> dict:
        return write_summary(self.run_dir, self.summary(status, error))


def _continue_from(state: RunState, previous: dict) -> None:
    """A resumed run keeps its start time, its total training time, how its folds were trained (a
    resume that only restores finished folds trains none to say it again), where their weights started
    (model.init) and counts its resumes."""
    state.started -= float(previous.get("duration_s") or 0.0)
    state.params = int(previous.get("params") or 0)
    for key in ("started_at", "steps_per_execution", "init"):
        if previous.get(key):
            state.extra[key] = previous[key]
    state.extra["resumes"] = int(previous.get("resumes") or 0) + 1


def _check_same_splits(splits, path: Path) -> None:
    """A resumed run must train on the very same folds: compare with the saved splits.npz."""
    from kopt.data.splits import Splits
    from kopt.training.checkpoint import CorruptCheckpoint, read_npz

    try:
        read_npz(path)  # refuses pickled objects, reports truncation
        saved = Splits.load(path)
    except (CorruptCheckpoint, KeyError, ValueError) as exc:
        print(f"kopt: warning: {path} is unreadable ({exc}); writing it again", file=sys.stderr, flush=True)
        splits.save(path)
        return
    same = (
        np.array_equal(saved.test, splits.test)
        and len(saved.folds) == len(splits.folds)
        and all(np.array_equal(a, c) and np.array_equal(b, d) for (a, b), (c, d) in zip(saved.folds, splits.folds))
    )
    if not same:
        raise KoptError(
            f"{path}: the saved splits differ from the config's (did the dataset change?); "
            "cannot resume this run, start a new one"
        )


def _mark(state: RunState, status: str, error: str | None = None) -> None:
    """Best effort: the disk may be the very thing that failed."""
    try:
        state.write(status, error)
    except OSError:
        pass


def _prepare(
    cfg: DictConfig,
    run_dir: Path,
    previous: dict,
    callbacks_factory: CallbackFactory | None,
    quiet: bool,
    resume: bool,
    titled: bool,
    trial: TrialMode | None = None,
):
    """Phase 1: the run dir, the header line, TensorFlow and the distribution strategy (resolved once
    here), the composed config on disk, the checkpoint store and tracking. Returns the run's
    :class:`FoldContext` (no data yet) and its :class:`kopt.training.tracking.Tracking`."""
    from kopt.runtime import setup_tensorflow

    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KoptError(f"cannot create the run dir {run_dir}: {exc.strerror}") from None
    check_writable(run_dir)
    state = RunState(cfg, run_dir, quiet=quiet)
    if not quiet:  # the first line, before TensorFlow loads (seconds)
        from kopt.console import header

        header("kopt train" + (" (resumed)" if resume else ""), header_items(cfg), str(run_dir), titled=titled)
    tr = cfg.trainer
    setup_tensorflow(
        int(cfg.seed), tr.deterministic, tr.intra_threads, tr.inter_threads, tr.verbose, backend=tr.get("backend")
    )
    from kopt.training.distribute import get_strategy, is_chief

    strategy = get_strategy(tr)  # before TensorFlow's runtime starts: multi-worker collectives are set up only then
    state.started = time.time()  # the run's time starts once TensorFlow is ready, as it always did
    from kopt.training.checkpoint import CheckpointStore

    hydra_cfg = run_dir / ".hydra" / "config.yaml"
    if not hydra_cfg.exists():
        atomic_write_text(hydra_cfg, OmegaConf.to_yaml(cfg))
    state.extra.update({"pid": os.getpid(), "host": socket.gethostname()})
    if previous:
        _continue_from(state, previous)
    store = CheckpointStore(run_dir) if tr.get("resumable", True) and is_chief(tr) else None
    from kopt.training.tracking import Tracking  # tb/, metrics.csv, MLflow, curves.png

    tracking = Tracking(cfg, run_dir, plots=trial is None)  # a study draws its trials' curves when it ends
    ctx = FoldContext(
        state,
        data=None,
        writer=MetricsWriter(run_dir / METRICS),
        callbacks_factory=tracking.wrap(callbacks_factory),
        store=store,
        resume=resume,
        strategy=strategy,
        score_test=trial is None,
        keep_model=trial.keep_model if trial is not None else None,
    )
    return ctx, tracking


def _data_and_splits(ctx: FoldContext) -> Splits:
    """Phase 2: the dataset and its splits (checked against splits.npz on resume, else saved);
    the data's facts go into summary.json. Sets ``ctx.data``, ``ctx.test_idx`` and ``ctx.n_folds``."""
    from kopt.data.datasets import load_dataset
    from kopt.data.splits import make_splits

    state, cfg, run_dir = ctx.state, ctx.state.cfg, ctx.state.run_dir
    data = load_dataset(cfg.dataset, int(cfg.seed))
    splits = make_splits(
        cfg.split,
        data.y,
        int(cfg.seed),
        fixed_test=data.test_idx,
        groups=data.groups,
        order=data.order,
        stratify=data.stratify,
    )
    if ctx.resume and (run_dir / SPLITS).is_file():
        _check_same_splits(splits, run_dir / SPLITS)
    else:
        splits.save(run_dir / SPLITS)
    if cfg.model.get("init"):  # its weights never trained on this run's test set (kopt.models.init_from)
        from kopt.models.init_from import check_splits

        check_splits(str(cfg.model.init), splits)
    if data.encoding is not None:  # a table: each fold's fill values (its training rows); the encoding saved
        import json

        from kopt.data.table import ENCODING, fold_fills

        data = fold_fills(data, splits.folds)
        atomic_write_text(run_dir / ENCODING, json.dumps(data.encoding, indent=1, default=str) + "\n")
    state.extra["data"] = {
        "name": data.name,
        "n": int(len(data.y)),
        "n_test": int(len(splits.test)),
        "input_shape": list(data.input_shape),
        "classes": data.num_classes,
        "class_names": list(data.class_names),
        "task": data.task,
    }  # the model's output i is class_names[i] (a regression model has one output: the value)
    if data.name in ("csv", "table", "images"):  # labels read from the user's files: which became which index
        state.extra["data"]["label_encoding"] = {name: i for i, name in enumerate(data.class_names)}
    from kopt.schemas.metrics import resolve_monitor

    state.monitor = resolve_monitor(cfg.trainer.monitor, cfg.trainer.get("metrics"), data.task)
    ctx.data, ctx.test_idx, ctx.n_folds = data, splits.test, len(splits.folds)
    return splits


def _train_folds(ctx: FoldContext, splits: Splits, release_last: bool = True) -> None:
    """Phase 3: each fold, trained (or, on resume, restored when it finished before). Each fold's
    Keras session is released after it (:func:`kopt.runtime.released_session`), the last one's only
    with ``release_last``: a process that ends with the run frees nothing it will use again. Where
    the folds share one compiled model (:mod:`kopt.training.reuse`), the session is released once,
    after the last fold (with ``release_last``)."""
    import contextlib

    from kopt.runtime import released_session

    state, store = ctx.state, ctx.store
    from kopt.training.reuse import KeptModel, reusable
    from kopt.training.signals import raise_if_received

    last = len(splits.folds) - 1
    # folds after the first train the first one's compiled model (kopt.training.reuse): the session
    # is released once, after the last fold (with release_last), instead of after each fold
    kept = KeptModel() if last > 0 and reusable(ctx.strategy) else None
    ctx = replace(ctx, kept=kept)
    with released_session() if kept is not None and release_last else contextlib.nullcontext():
        for fold, (train_idx, val_idx) in enumerate(splits.folds):
            raise_if_received()  # (one swallowed by library code since: no new fold)
            done = store.load_result(fold) if (store is not None and ctx.resume) else None
            if done is not None:
                state.folds.append(done)
                continue
            release = kept is None and (release_last or fold < last)
            with released_session() if release else contextlib.nullcontext():
                result = train_fold(ctx.for_fold(fold, train_idx, val_idx))
            state.folds.append(result)
            if store is not None:
                store.save_result(result)
            state.write(RUNNING)


def _finish(ctx: FoldContext) -> dict:
    """Phase 4: predictions.npz (the folds' mean; none in a tune trial), summary.json completed (with a k-fold run's
    ``folds_averaged``: the test scores of that mean, the one model kopt predict and export use),
    the checkpoints removed."""
    from kopt.training.evaluate import test_metrics

    state = ctx.state
    if ctx.score_test:  # (a tune trial scores validation only: no predictions.npz)
        probs = np.stack([f.probs for f in state.folds])
        y_true = ctx.data.y[ctx.test_idx]
        averaged = probs.mean(axis=0)
        atomic_savez(
            state.run_dir / PREDICTIONS,
            y_true=y_true,
            probs=averaged,
            fold_probs=probs,
            test_idx=ctx.test_idx,
        )
        if len(state.folds) > 1:  # (no regulariser penalty: that is a fold model's, not the average's)
            task, tr = ctx.data.task, state.cfg.trainer
            scores = test_metrics(averaged, y_true, task=task, tr=tr) if tr.get("loss") is None else {}
            if scores:  # (a loss of yours: measured on each fold only)
                state.extra[FOLDS_AVERAGED] = {"models": len(state.folds), **scores}
    summary = state.write(COMPLETED)
    if ctx.store is not None:
        ctx.store.clear()
    return summary


def run_train(
    cfg: DictConfig,
    run_dir: Path,
    callbacks_factory: CallbackFactory | None = None,
    quiet: bool = False,
    resume: bool = False,
    resume_hint: bool = True,
    titled: bool = False,
    trial: TrialMode | None = None,
    release_last: bool = True,
) -> dict:
    """Train ``cfg`` into ``run_dir`` and return the summary. Raises RunFailed/Interrupted after
    writing ``summary.json`` with status ``failed``/``interrupted`` (and, with ``resume_hint``
    and not ``quiet``, the command that resumes the run: a sweep says how to resume itself).

    Every epoch is checkpointed (``trainer.resumable``); ``resume=True`` continues the run in
    ``run_dir``: finished folds are kept, the unfinished one continues after its last epoch.
    ``titled``: the header's title line was printed already (kopt train prints it as soon as the
    config is composed), so only the run dir line follows.
    ``release_last=False``: the process ends with this run (a single ``kopt train``), so the last
    fold's Keras session is left for the exit to drop instead of cleared (:func:`_train_folds`).
    ``trial``: a tune trial's lean run (:class:`TrialMode`): validation only, no test set scored,
    no predictions.npz, no curves.png, its model saved only where the study keeps it.

    Phases: prepare (:func:`_prepare`) -> data and splits (:func:`_data_and_splits`) -> folds
    (:func:`_train_folds`) -> finish (:func:`_finish`); the last three write an interrupted or
    failed summary.json when they stop early."""
    run_dir = Path(run_dir)
    previous = read_summary(run_dir).to_dict() if resume and (run_dir / SUMMARY).is_file() else {}
    if previous.get("status") == COMPLETED:
        return previous
    ctx, tracking = _prepare(cfg, run_dir, previous, callbacks_factory, quiet, resume, titled, trial)
    state = ctx.state
    from kopt.console import console, train_table
    from kopt.training.signals import NAMES, graceful_interrupts, raise_if_received

    with graceful_interrupts():
        try:
            # a SIGTERM that landed while TensorFlow loaded (in _prepare) can be swallowed by the import:
            # stop here, not after a whole run (a tune worker's first trial ended COMPLETE after one)
            raise_if_received()
            state.write(RUNNING)
            splits = _data_and_splits(ctx)
            _train_folds(ctx, splits, release_last)
            raise_if_received()  # one that came where it could not raise (a gc callback): no completed summary
            summary = _finish(ctx)
        except KeyboardInterrupt as exc:  # Interrupted (SIGINT/SIGTERM), or a Ctrl-C in a non-main thread
            signum = getattr(exc, "exit_code", 130) - 128
            name = NAMES.get(signum, "SIGINT")
            _mark(state, INTERRUPTED, name)
            if not quiet and resume_hint:  # (a caller running many runs, like kopt tune or -m, says how to go on)
                where = _relative(run_dir)
                console.print(
                    f"[yellow]interrupted[/] ({name}): run dir {where} is marked interrupted; "
                    f"resume with: kopt train resume={where}"
                )
            if isinstance(exc, Interrupted):
                raise
            raise Interrupted(2) from None
        except (KoptError, RunFailed) as exc:
            _mark(state, FAILED, str(exc))
            raise
        except OSError as exc:
            _mark(state, FAILED, f"{type(exc).__name__}: {exc}")
            where = exc.filename or run_dir
            raise RunFailed(f"I/O error on {where}: {exc.strerror or exc}") from None
        except Exception as exc:
            _mark(state, FAILED, f"{type(exc).__name__}: {exc}")
            raise RunFailed(f"{type(exc).__name__}: {exc} (run dir {run_dir})") from exc
        finally:
            tracking.finish()
    if not quiet:
        console.print(train_table(summary))
    return summary


def run_from_hydra(cfg: DictConfig, titled: bool = False) -> dict:
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode.name == "MULTIRUN"
    return run_train(
        cfg, Path(hydra_cfg.runtime.output_dir), resume_hint=not multirun, titled=titled, release_last=multirun
    )
