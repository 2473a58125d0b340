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


@contextmanager
def _composed_already(composed):
    """Before a single run, Hydra composes its config once more (``Hydra.run``: about 0.07 s of every
    `kopt train`): from the same config name and overrides, plus the ``hydra.mode=RUN`` it adds
    (``_run_app``), kopt composed the same config already (CommandLine.composed). Hydra is handed a
    copy of that one, with ``hydra.mode`` and the override recorded as its own composition records
    them (tests/test_train_command.py compares the two); anything else is composed as before, e.g. a
    command line kopt changed after composing it (a pinned study name, a scratch run dir)."""
    from hydra._internal import hydra as hydra_internal

    Hydra = hydra_internal.Hydra
    if composed is None or "compose_config" not in vars(Hydra):
        yield
        return
    name, composed_overrides, cfg = composed
    composing = Hydra.compose_config

    # (Hydra's own signature: it calls with keywords)
    def compose_config(self, config_name, overrides, run_mode, with_log_configuration=False, **kwargs):
        from hydra.types import RunMode

        if run_mode != RunMode.RUN or config_name != name or list(overrides) != [*composed_overrides, MODE_RUN]:
            return composing(self, config_name, overrides, run_mode, with_log_configuration, **kwargs)
        return _as_hydra_run(self, cfg, name, overrides, with_log_configuration)

    Hydra.compose_config = compose_config
    try:
        yield
    finally:
        Hydra.compose_config = composing


MODE_RUN = "hydra.mode=RUN"  # what Hydra's _run_app adds to a run's overrides when the config names no mode


def _as_hydra_run(hydra_app, composed, config_name: str, overrides: list[str], with_log_configuration: bool):
    """What ``Hydra.compose_config`` returns for a single run, from kopt's own composition of it."""
    import copy
    import logging

    from hydra._internal import hydra as hydra_internal
    from hydra.core.utils import configure_log
    from hydra.types import RunMode
    from omegaconf import open_dict

    cfg = copy.deepcopy(composed)
    with open_dict(cfg):
        cfg.hydra.mode = RunMode.RUN
        cfg.hydra.overrides.hydra.append(MODE_RUN)
    if with_log_configuration:  # (as compose_config does)
        configure_log(cfg.hydra.hydra_logging, cfg.hydra.verbose)
        hydra_internal.log = logging.getLogger(hydra_internal.__name__)
        hydra_app._print_debug_info(config_name, overrides, RunMode.RUN)
    return cfg


def run_hydra_app(
    task: Callable, argv: list[str], config_name: str, prog: str, mode=NOT_COMPOSED, composed=None
) -> None:
    """``mode``: the ``hydra.mode`` of the command line's composed config (CommandLine.hydra_mode);
    ``composed``: its single job's whole config (CommandLine.composed)."""
    import hydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    app = hydra.main(config_path=str(config_dir()), config_name=config_name, version_base="1.3")(task)
    saved = sys.argv
    sys.argv = [prog, *argv]
    try:
        with _known_mode(mode), _composed_already(composed):
            app()
    except (HydraException, OmegaConfBaseException) as exc:
        # Errors Hydra raises outside a job (e.g. rendering --help with a sweep value): one line.
        raise KoptError(str(exc).strip().splitlines()[0]) from None
    finally:
        sys.argv = saved
