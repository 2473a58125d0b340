"""Keep TensorFlow's start-up noise out of kopt's output: the environment it reads, and its C++ lines
held at the file descriptor. Standard library only, so that kopt.targets (a user's module that imports
Keras) and kopt.runtime (kopt's own import) quiet TensorFlow the same way."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import warnings
from contextlib import contextmanager


def quiet_tensorflow(verbose: bool = False) -> None:
    """Silence TensorFlow's C++ start-up noise unless the user asks for it (must run before import)."""
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    warnings.filterwarnings("ignore", module="keras")
    warnings.filterwarnings("ignore", module="tensorflow")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


@contextmanager
def stderr_to_buffer():
    """Hold C-level stderr (fd 2) in a temporary file; replay it only if the block fails.

    TensorFlow 2.20+ logs through absl before TF_CPP_MIN_LOG_LEVEL is honoured, so its
    start-up lines (oneDNN, CUDA probing) can only be silenced at the file-descriptor level.
    A Ctrl-C or SIGTERM (KeyboardInterrupt, kopt.errors.Interrupted) or an exit is no failure of
    the import: the lines stay hidden, as they would had it finished.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
