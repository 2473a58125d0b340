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
    """Ctrl-C (exit 130) or SIGTERM (exit 143) during a run; the run dir is marked interrupted."""

    def __init__(self, signum: int = 2):
        super().__init__(signum)
        self.exit_code = 128 + signum
