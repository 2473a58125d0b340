"""User-facing errors: one clear line, a non-zero exit, no traceback."""

import sys
from typing import NoReturn


class KoptError(Exception):
    """A problem with the user's input (config, override, file). Exit code 2."""

    exit_code = 2


class RunFailed(Exception):
    """A run started but could not finish (NaN loss, ...). Exit code 1."""

    exit_code = 1


def install_hint(extra: str) -> str:
    """How to install an optional extra: from an index, and from a clone (kopt is not on an index yet)."""
    return f"pip install 'kopt[{extra}]' (from a clone: pip install '.[{extra}]')"


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``kopt: error: <message>`` on stderr and exit."""
    first = " ".join(str(message).split())
    print(f"kopt: error: {first}", file=sys.stderr)
    raise SystemExit(code)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (exit 130) or SIGTERM (exit 143) during a run; the run dir is marked interrupted.
    Also a closed stdout (:func:`stdout_closed`, exit 141)."""

    def __init__(self, signum: int = 2):
        super().__init__(signum)
        self.exit_code = 128 + signum


SIGPIPE = 13  # signal.SIGPIPE on every POSIX system


def stdout_closed() -> NoReturn:
    """The reader of stdout went away (``kopt ... | head -1``): from now on stdout writes go to
    /dev/null, and the command stops as ``git log | head`` does, quietly with exit 141 (the
    SIGPIPE convention), through :class:`Interrupted`, so that a run it stops is marked
    interrupted (resumable) instead of left running. SIGPIPE itself stays ignored (Python's
    default): a closed socket (PostgreSQL, MLflow) is an error of its own, never a silent exit."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    raise Interrupted(SIGPIPE)


def quiet_closed_stdout() -> None:
    """A logging handler that writes to a closed stdout (Hydra's, ``[HYDRA] Launching ...``) stops
    the command as :func:`stdout_closed` does, instead of printing logging's ``--- Logging error
    ---`` traceback for each record."""
    import logging

    if getattr(logging.Handler.handleError, "_kopt", False):
        return
    original = logging.Handler.handleError

    def handle_error(self, record):
        if isinstance(sys.exc_info()[1], BrokenPipeError) and _is_stdout(getattr(self, "stream", None)):
            stdout_closed()
        original(self, record)

    handle_error._kopt = True
    logging.Handler.handleError = handle_error


def _is_stdout(stream) -> bool:
    try:
        return stream is sys.stdout or stream is sys.__stdout__ or stream.fileno() == 1
    except (AttributeError, OSError, ValueError):
        return False
