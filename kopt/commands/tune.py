"""``kopt tune``: an Optuna study over ``kopt train`` configs, as a Hydra app on ``tune.yaml``.

The whole study is checked before anything runs (groups, tuner, pruner, every key and bound
of the search space), so a bad override costs one line and writes nothing.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

from omegaconf import open_dict

from kopt.compose import compose_and_validate, compose_option, print_job_config, search_dirs, split_argv
from kopt.custom_argv import open_custom_keys
from kopt.errors import KoptError, RunFailed
from kopt.hydra_app import run_hydra_app
from kopt.tune.planning.space import GROUPS
from kopt.validate import validate_train

SEARCH_KEY = re.compile(r"^\+{0,2}search\.")
SEARCH_ARG = re.compile(r"^[+~]{0,2}search([.=]|$)")


def quote_search_overrides(argv: list[str]) -> list[str]:
    """``search.x=choice(1,2)`` is a search expression, not a Hydra sweep: pass it as a string
    (and add the key, since the search node starts empty)."""
    out = []
    for arg in argv:
        key, eq, value = arg.partition("=")
        if eq and SEARCH_KEY.match(key) and not arg.startswith("-"):
            quoted = value if value[:1] in ("'", '"') else (f"'{value}'" if "'" not in value else f'"{value}"')
            if "'" in value and '"' in value and value[:1] not in ("'", '"'):
                raise KoptError(f"{arg}: cannot quote a value holding both ' and \"")
            path = key.lstrip("+")[len("search.") :]
            if path in GROUPS:  # search.model=choice(...) is search.model.name, so that
                path += ".name"  # search.model.cnn.filters=... can sit next to it
            arg = f"++search.{path}={quoted}"
        out.append(arg)
    return out


def pin_override(argv: list[str], overrides: list[str], pinned: str) -> list[str]:
    """``argv`` with ``pinned`` replacing any override of its key, placed right after the other
    overrides: Hydra's argparse takes overrides as one run of positionals, before or after flags."""
    key = pinned.split("=", 1)[0]
    argv = [a for a in argv if a.lstrip("+").split("=", 1)[0] != key]
    given = set(overrides)
    last = max((i for i, a in enumerate(argv) if a in given), default=-1)
    return argv[: last + 1] + [pinned] + argv[last + 1 :]


def default_search(line, cfgs: list) -> str | None:
    """The search preset of the model (``search=cnn_digits`` for model=cnn) when the command line
    and the configs give no search at all; None otherwise."""
    if not cfgs or cfgs[0].get("search") or any(SEARCH_ARG.match(a) for a in line.overrides):
        return None
    from kopt.schemas.model import search_presets

    return search_presets().get(str(cfgs[0].model.get("name")))


def validate_tune(cfg, machine: bool = True) -> None:
    from kopt.validate import validate_group

    validate_train(cfg, machine=machine)
    if cfg.get("resume") not in (None, False):  # (a root key of kopt train's config, which tune extends)
        raise KoptError(
            f"resume={cfg.resume}: kopt tune does not take resume; a study resumes when the same "
            "command (the same tuner.study_name) runs again"
        )
    validate_group(cfg, "tuner", machine)
    validate_group(cfg, "pruner", machine)


def study_task(plan, errors: list[Exception]):
    """The Hydra task that runs the study of ``plan`` in the Hydra run dir; errors are put in
    ``errors``, raised after the app returns (raised inside it, Hydra would print a traceback)."""

    def task(cfg) -> dict | None:
        from hydra.core.hydra_config import HydraConfig

        from kopt.tune.run import run_study

        study_dir = HydraConfig.get().runtime.output_dir
        try:
            return run_study(plan, study_dir)
        except (KoptError, RunFailed) as exc:
            errors.append(exc)
        except OSError as exc:  # a full disk, a folder gone read-only: the study so far stays in its storage
            where = exc.filename or study_dir
            errors.append(
                RunFailed(
                    f"I/O error on {where}: {exc.strerror or exc}; the study is saved up to there, "
                    "run the same kopt tune command again once that is fixed"
                )
            )
        return None

    return task


def main(argv: list[str]) -> None:
    plan = None
    errors: list[Exception] = []
    argv = open_custom_keys(quote_search_overrides(argv))  # model=custom: keys of your own without `+`
    line, cfgs = compose_and_validate(argv, "tune", validators=[validate_tune])
    preset = default_search(line, cfgs)
    if preset is not None:
        print(
            f"kopt tune: no search given; searching search={preset}, the preset for model={cfgs[0].model.name} "
            "(give search=<preset> or search.<key>=... to choose)",
            file=sys.stderr,
            flush=True,
        )
        argv = pin_override(argv, line.overrides, f"search={preset}")
        line.overrides = split_argv(argv).overrides
        node = compose_option("search", preset, search_dirs(line.user_config_dir), line.config_name or "tune")
        for cfg in cfgs:  # each job composed once: the preset joins it as its search node
            with open_dict(cfg):
                cfg.search = node
    if line.multirun:
        raise KoptError(
            "kopt tune runs one study: drop -m/--multirun and put what to search under search., "
            "e.g. 'search.model.width=choice(16,32,64)'"
        )
    if cfgs:
        from kopt.tune.planning.plan import build_plan

        task = None
        if not line.print_only:
            from kopt.data.datasets import check_files_content

            # a wrong npz, csv, image or loader of yours: one line before the study dir; and the task its
            # labels tell, which tuner.metric=auto reads (val_loss for a regression)
            (task,) = check_files_content(cfgs[:1])
        plan = build_plan(
            cfgs[0],
            line.overrides,
            search_dirs(line.user_config_dir),
            line.config_name or "tune",
            machine=not line.print_only,  # `--cfg job` shows the plan's config whatever this machine holds
            task=task,
        )
        from kopt.rundir import check_writable
        from kopt.tune.running.study import check_resume
        from kopt.tune.store.storage import storage_spec

        study_dir = line.output_dir or Path("runs") / "tune" / plan.study_name
        if not line.print_only:
            check_writable(study_dir)  # a read-only or full disk fails here, before the storage is touched
        check_resume(plan, storage_spec(plan.tuner.get("storage"), study_dir), study_dir)
        # the study name may come from ${now:...}: pin it, so the Hydra run dir matches the plan
        argv = pin_override(argv, line.overrides, f"tuner.study_name={plan.study_name}")
        with open_dict(cfgs[0]):  # (what Hydra would print with that pin)
            cfgs[0].tuner.study_name = plan.study_name
        if print_job_config(line, cfgs[0]):
            return
    # tune.log on a full disk: one error line at the end, not a "--- Logging error ---" page per record
    raise_exceptions, logging.raiseExceptions = logging.raiseExceptions, False
    try:
        run_hydra_app(study_task(plan, errors), argv, "tune", "kopt tune", mode=line.hydra_mode, composed=line.composed)
    except KeyboardInterrupt:
        if plan is not None:
            print(
                f'kopt: study {plan.study_name} is saved (the running trial is marked FAIL "interrupted"); '
                "run the same kopt tune command again to resume it",
                file=sys.stderr,
            )
        raise
    finally:
        logging.raiseExceptions = raise_exceptions
    if errors:
        raise errors[0]
