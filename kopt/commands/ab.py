"""``kopt ab a='model=cnn' b='model=mlp' [shared overrides]``: train two configs on identical folds, compare.

Both configs are composed from the same base (``configs/config.yaml``) plus the shared
overrides, then each side's own overrides (which win). Both are validated before anything
trains. They must agree on dataset, split and seed, so they see identical folds.
"""

from __future__ import annotations

import logging
import shlex
from pathlib import Path

from kopt.argparser import MAX_RESAMPLES, ArgumentParser, non_negative_int, probability, resamples
from kopt.errors import KoptError, RunFailed
from kopt.rundir.names import FOLD_METRICS, VAL_ACCURACY

SIDES = ("a", "b")
SHARED_NODES = ("dataset", "split", "seed")
DEFAULT_PROTOCOL = "fixed"  # kopt.protocol: fold scores that chose nothing

DESCRIPTION = """\
Train config A and config B on identical folds, one after the other in this process, then
compare them as `kopt compare` does. a='...' and b='...' hold each side's overrides (quoted,
space-separated); the other overrides are shared by both. protocol=fixed (default: every fold
trains trainer.epochs epochs and is scored at its last) or protocol=best_epoch (the best epoch
on the scored fold: biased, for reference) sets trainer.protocol for both. Writes
runs/ab/<timestamp>/ with a/ and b/ (full train run dirs) and comparison.json."""


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="kopt ab",
        description=DESCRIPTION,
        epilog="example: kopt ab a='model=mlp' b='model=cnn model.width=16' split=cv5x2 trainer.epochs=10",
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="a=... b=... OVERRIDE",
        help="a='side A overrides', b='side B overrides', optionally protocol=fixed|best_epoch, then "
        "shared overrides such as split=cv5x2",
    )
    p.add_argument(
        "--metric",
        default=None,
        choices=FOLD_METRICS,
        help=f"per-fold score to pair (default {VAL_ACCURACY}; without it, trainer.monitor, e.g. val_mae)",
    )
    p.add_argument("--alpha", type=probability, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--bootstrap-seed", type=non_negative_int, default=0, help="bootstrap seed (default 0)")
    p.add_argument(
        "--resamples",
        type=resamples,
        default=10_000,
        help=f"bootstrap resamples (default 10000, at most {MAX_RESAMPLES})",
    )
    p.add_argument("--out", default=None, help="folder for a/, b/ and comparison.json (default runs/ab/<timestamp>/)")
    return p


def split_sides(items: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """a=... and b=... items (each shell-split into overrides), and the shared rest."""
    sides: dict[str, list[str]] = {}
    shared: list[str] = []
    for item in items:
        key, eq, value = item.partition("=")
        if eq and key in SIDES:
            if key in sides:
                raise KoptError(f"{key}= given twice; put all of side {key}'s overrides in one quoted {key}='...'")
            try:
                sides[key] = shlex.split(value)
            except ValueError as exc:
                raise KoptError(f"{key}={value!r}: {exc}") from None
        else:
            shared.append(item)
    missing = [s for s in SIDES if s not in sides]
    if missing:
        raise KoptError(
            f"missing {' and '.join(m + '=...' for m in missing)}; e.g. kopt ab a='model=mlp' b='model=cnn'"
        )
    return sides, shared


def take_protocol(shared: list[str]) -> tuple[str, list[str]]:
    """``protocol=...`` (default fixed) and the other shared overrides."""
    from kopt.schemas.trainer import PROTOCOLS

    given = [o.partition("=")[2] for o in shared if o.startswith("protocol=")]
    if len(given) > 1:
        raise KoptError("protocol= given twice; allowed: once")
    value = given[0] if given else DEFAULT_PROTOCOL
    if value not in PROTOCOLS:
        raise KoptError(f"protocol={value}: unknown; allowed: {', '.join(PROTOCOLS)}")
    return value, [o for o in shared if not o.startswith("protocol=")]


def compose_side(side: str, overrides: list[str]):
    from kopt.compose import compose_and_validate
    from kopt.validate import validate_train

    try:
        _, cfgs = compose_and_validate(overrides, "config", validators=[validate_train])
    except KoptError as exc:
        raise KoptError(f"side {side}: {exc}") from None
    return cfgs[0]


def compose_pair(sides: dict[str, list[str]], shared: list[str]) -> dict:
    """Both configs, composed and validated; refuses pairs that would not share their folds."""
    from omegaconf import OmegaConf

    from kopt.compose import compose_and_validate, parse_overrides
    from kopt.validate import validate_train

    everything = shared + sides["a"] + sides["b"]
    flags = [o for o in everything if o.startswith("-")]
    if flags:
        raise KoptError(f"{flags[0]}: Hydra flags are not supported by kopt ab; give overrides only")
    sweeps = [o.input_line for o in parse_overrides(everything) if o.is_sweep_override()]
    if sweeps:
        raise KoptError(f"'{sweeps[0]}' is a sweep; kopt ab trains exactly one config per side")
    compose_and_validate(shared, "config", validators=[validate_train])  # a bad shared override fails once, unprefixed
    cfgs = {side: compose_side(side, shared + sides[side]) for side in SIDES}
    for key in SHARED_NODES:
        va, vb = (
            OmegaConf.to_container(c, resolve=False) if OmegaConf.is_config(c) else c
            for c in (cfgs["a"].get(key), cfgs["b"].get(key))
        )
        if va != vb:
            raise KoptError(
                f"a and b must share {key} to train on identical folds (a: {va}, b: {vb}); "
                f"put {key} overrides in the shared overrides, not in a= or b="
            )
    pa, pb = (cfgs[s].trainer.protocol for s in SIDES)
    if pa != pb:
        raise KoptError(
            f"a and b must share trainer.protocol to be scored alike (a: {pa}, b: {pb}); "
            "use protocol=... in the shared overrides"
        )
    return cfgs


def train_side(side: str, cfg, run_dir: Path, overrides: list[str]) -> None:
    from omegaconf import OmegaConf

    from kopt.console import LogFormatter, console
    from kopt.rundir import atomic_write_text
    from kopt.training.run import run_train  # TensorFlow loads here

    atomic_write_text(run_dir / ".hydra" / "overrides.yaml", OmegaConf.to_yaml(OmegaConf.create(overrides)))
    console.print(f"[bold magenta]kopt ab: side {side}[/]  {' '.join(overrides) or '(base config)'}")
    log = logging.FileHandler(run_dir / "train.log")
    log.setFormatter(LogFormatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))  # as Hydra's job log
    root = logging.getLogger()
    root.addHandler(log)
    try:
        logging.getLogger("kopt.ab").info("side %s: %s", side, " ".join(overrides))
        run_train(cfg, run_dir)
    except RunFailed as exc:
        raise RunFailed(f"side {side} failed: {exc} (run dir {run_dir})") from exc
    finally:
        root.removeHandler(log)
        log.close()


def main(argv: list[str]) -> None:
    args = parser().parse_intermixed_args(argv)
    sides, shared = split_sides(args.overrides)
    protocol, shared = take_protocol(shared)
    cfgs = compose_pair(sides, [f"trainer.protocol={protocol}", *shared])  # shared and side overrides win

    from kopt.comparison import compare_runs, render
    from kopt.console import console
    from kopt.rundir import atomic_write_json, load_run
    from kopt.runload import output_dir

    out = output_dir("ab", args.out)
    if out.exists() and any(out.iterdir()):
        raise KoptError(f"--out {out}: the folder is not empty; choose a new one")
    overrides = {side: [f"trainer.protocol={protocol}", *shared, *sides[side]] for side in SIDES}
    for side in SIDES:
        (out / side).mkdir(parents=True)
        train_side(side, cfgs[side], out / side, overrides[side])
    result = compare_runs(
        load_run(out / "a"),
        load_run(out / "b"),
        args.metric,
        args.alpha,
        args.bootstrap_seed,
        args.resamples,
        sides={s: {"overrides": sides[s]} for s in SIDES},
    )
    result["shared_overrides"] = shared
    atomic_write_json(out / "comparison.json", result)
    render(result)
    console.print(f"[dim]written: {out / 'comparison.json'}[/]")
