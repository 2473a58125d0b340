"""Run a function as a Hydra app on a given argv, so `-m`, `--cfg`, `--help` etc. behave as usual."""

from __future__ import annotations

import sys
from typing import Callable

from kopt.paths import config_dir


def run_hydra_app(task: Callable, argv: list[str], config_name: str, prog: str) -> None:
    import hydra

    app = hydra.main(config_path=str(config_dir()), config_name=config_name, version_base="1.3")(task)
    saved = sys.argv
    sys.argv = [prog, *argv]
    try:
        app()
    finally:
        sys.argv = saved
