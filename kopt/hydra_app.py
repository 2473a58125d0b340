"""Run a function as a Hydra app on a given argv, so `-m`, `--cfg`, `--help` etc. behave as usual."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import contextmanager

from kopt.compose import NOT_COMPOSED
from kopt.errors import KoptError
from kopt.paths import config_dir


@contextmanager
def _known_mode(mode):
    """Hydra composes the whole config once more before a run only to read ``hydra.mode``
    (``Hydra.get_mode``, about 0.08 s of every `kopt` process): kopt composed it already, so Hydra
    is handed that value. Where this Hydra has no ``get_mode`` it composes as before."""
    from hydra._internal.hydra import Hydra

    if mode is NOT_COMPOSED or "get_mode" not in vars(Hydra):
        yield
        return
    composing = Hydra.get_mode
    Hydra.get_mode = lambda self, config_name, overrides: mode
    try:
        yield
    finally:
        Hydra.get_mode = composing


def run_hydra_app(task: Callable, argv: list[str], config_name: str, prog: str, mode=NOT_COMPOSED) -> None:
    """``mode``: the ``hydra.mode`` of the command line's composed config (CommandLine.hydra_mode)."""
    import hydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    app = hydra.main(config_path=str(config_dir()), config_name=config_name, version_base="1.3")(task)
    saved = sys.argv
    sys.argv = [prog, *argv]
    try:
        with _known_mode(mode):
            app()
    except (HydraException, OmegaConfBaseException) as exc:
        # Errors Hydra raises outside a job (e.g. rendering --help with a sweep value): one line.
        raise KoptError(str(exc).strip().splitlines()[0]) from None
    finally:
        sys.argv = saved
