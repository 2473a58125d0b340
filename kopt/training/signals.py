"""SIGINT/SIGTERM during a run: stop at a clean point, never in the middle of a write.

While Keras trains, a signal only sets a flag; the :func:`stop_on_signal` callback raises
:class:`~kopt.errors.Interrupted` at the end of the current batch (the partial epoch is
abandoned: the run resumes from the last epoch checkpoint) or, if the signal came during
validation, at the end of the epoch right after its checkpoint is written. Outside training
(data loading, evaluation, saving) the signal raises at once; every file write is atomic.
A second signal while one is pending also raises at once.
"""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager

from kopt.errors import Interrupted

HANDLED = (signal.SIGINT, signal.SIGTERM)  # the signals kopt handles; SIGPIPE stays ignored (Python's default)
NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM", signal.SIGPIPE: "SIGPIPE"}  # SIGPIPE: a closed stdout


class _State:
    deferring = False  # inside model.fit: wait for the end of the batch
    pending: int | None = None
    # the first signal this process received, never cleared: a signal raised inside library code
    # (a C extension's import, a broad ``except``) can be swallowed or turned into another error;
    # the process still ends as interrupted (see raise_if_received and kopt.cli)
    received: int | None = None


state = _State()


def _handler(signum, frame):
    state.received = state.received or signum
    if state.deferring and state.pending is None:
        state.pending = signum
        print(
            f"kopt: {NAMES.get(signum, signum)} received: stopping after the current batch "
            "(send it again to stop at once)",
            file=sys.stderr,
            flush=True,
        )
        return
    if _in_gc_callback(frame):  # raised there, Python prints "Exception ignored" and drops it
        state.pending = state.pending or signum  # raised at the next safe point (raise_if_received, a batch end)
        return
    raise Interrupted(signum)


def _in_gc_callback(frame) -> bool:
    """Whether the signal interrupted a garbage-collection callback (e.g. JAX's ``_xla_gc_callback``)."""
    import gc

    codes = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    while frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


def raise_interrupted(signum, frame):
    state.received = state.received or signum
    raise Interrupted(signum)


def raise_if_received() -> None:
    """Raise :class:`~kopt.errors.Interrupted` if a signal came earlier and something swallowed it
    (called before each new piece of work, e.g. before a study claims its next trial)."""
    if state.received is not None:
        raise Interrupted(state.received)


def sigterm_interrupts() -> None:
    """From a command's first moment on, SIGTERM and SIGINT raise :class:`~kopt.errors.Interrupted`
    (exit 143, 130) and record the signal: installed before TensorFlow loads, so a signal while kopt
    starts up ends like one during training, never silently. Python's own SIGINT handler raises
    KeyboardInterrupt without a record, and a KeyboardInterrupt that library code swallows while
    TensorFlow imports left the run going to the end (test_startup_noise's Ctrl-C test, once, under
    load); recorded, :func:`raise_if_received` stops the run right after the import. A SIGINT that
    the shell ignores (``nohup``, a background job) stays ignored."""
    try:
        signal.signal(signal.SIGTERM, raise_interrupted)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, raise_interrupted)
    except ValueError:  # not the main thread
        pass


@contextmanager
def graceful_interrupts():
    """Route SIGINT and SIGTERM through :func:`_handler` (main thread only; elsewhere a no-op)."""
    try:
        previous = {sig: signal.signal(sig, _handler) for sig in HANDLED}
    except ValueError:  # not the main thread (e.g. a threaded launcher)
        yield
        return
    state.pending, state.deferring = None, False
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        state.pending, state.deferring = None, False


def _stop_if_pending() -> None:
    if state.pending is not None:
        signum, state.pending, state.deferring = state.pending, None, False
        raise Interrupted(signum)


def stop_on_signal():
    """A Keras callback to put last in the list: a pending signal stops training at the end of a
    batch, or at the end of an epoch (after the callbacks before it wrote its checkpoint)."""
    import keras  # keras loads with TensorFlow: only once a run starts

    class StopOnSignal(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            state.deferring = True

        def on_train_batch_end(self, batch, logs=None):
            _stop_if_pending()

        def on_epoch_end(self, epoch, logs=None):
            _stop_if_pending()

        def on_train_end(self, logs=None):
            state.deferring = False
            _stop_if_pending()

    return StopOnSignal()


@contextmanager
def training():
    """Wrap ``model.fit``: whatever way it ends, signals raise at once again afterwards."""
    try:
        yield
    finally:
        state.deferring = False
    _stop_if_pending()
