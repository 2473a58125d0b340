"""``kopt train``: a Hydra app that trains one config (or one per multirun job)."""

from __future__ import annotations

import sys

from kopt.compose import compose_and_validate
from kopt.errors import KoptError, RunFailed, fail
from kopt.hydra_app import run_hydra_app
from kopt.validate import validate_train

_failures: list[str] = []


def task(cfg) -> dict | None:
    from hydra.core.hydra_config import HydraConfig

    from kopt.training.run import run_from_hydra  # TensorFlow loads here, once a run starts

    multirun = HydraConfig.get().mode.name == "MULTIRUN"
    try:
        return run_from_hydra(cfg)
    except (KoptError, RunFailed) as exc:
        if not multirun:
            fail(str(exc), exc.exit_code)  # SystemExit passes through Hydra's own error report
        # one failed job must not stop the sweep: it is recorded in its run dir
        _failures.append(f"job {HydraConfig.get().job.num}: {exc}")
        print(f"kopt: job {HydraConfig.get().job.num} failed: {exc}", file=sys.stderr)
        return None


def main(argv: list[str]) -> None:
    compose_and_validate(argv, "config", validators=[validate_train])
    run_hydra_app(task, argv, "config", "kopt train")
    if _failures:
        raise RunFailed(f"{len(_failures)} job(s) failed: " + "; ".join(_failures))
