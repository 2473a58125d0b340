"""What the workers' fork server (kopt.tune.running.forked) imports when it starts, once for all the
workers forked from it: TensorFlow and Keras on the study's backend (``KERAS_BACKEND``, set for the
server), quietly, and the worker's own modules. No device is probed here: a CUDA context made
before a fork is unusable after it, so each worker probes its own.

A Ctrl-C reaches kopt tune's whole process group, the server too: it ignores SIGINT (as
multiprocessing's server does once it serves), since kopt tune ends it. Its workers restore the
handler a fresh Python has."""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)

from kopt.runtime import import_tensorflow  # noqa: E402

import_tensorflow(probe=False)

import kopt.tune.running.loop  # noqa: E402
import kopt.tune.running.workers  # noqa: E402, F401
