"""What the workers' fork server (kopt.tune.running.forked) imports when it starts, once for all the
workers forked from it: TensorFlow and Keras on the study's backend (``KERAS_BACKEND``, set for the
server), quietly, and the worker's own modules. No device is probed here: a CUDA context made
before a fork is unusable after it, so each worker probes its own."""

from kopt.runtime import import_tensorflow

import_tensorflow(probe=False)

import kopt.tune.running.loop  # noqa: E402
import kopt.tune.running.workers  # noqa: E402, F401
