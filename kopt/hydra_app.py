"""Run a function as a Hydra app on a given argv, so `-m`, `--cfg`, `--help` etc. behave as usual."""

from __future__ import annotations

import sys
from collections.abc import Callable

from kopt.errors import KoptError
from kopt.paths import config_dir


def run_hydra_app(task: Callable, argv: list[str], config_name: str, prog: str) -> None:
    import hydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    app = hydra.main(config_path=str(config_dir()), config_name=config_name, version_base="1.3")(task)
    saved = sys.argv
    sys.argv = [prog, *argv]
    try:
        app()
    except (HydraException, OmegaConfBaseException) as exc:
        # Errors Hydra raises outside a job (e.g. rendering --help with a sweep value): one line.
        raise KoptError(str(exc).strip().splitlines()[0]) from None
    finally:
        sys.argv = saved
