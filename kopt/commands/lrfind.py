"""``kopt lr-find [overrides] [--min-lr X] [--max-lr Y] [--steps N]``: the learning-rate range
test (see kopt.lrfind) on the composed train config; prints a suggested ``optimizer.lr=``."""

from __future__ import annotations

import argparse
from datetime import datetime

from kopt.argparser import ArgumentParser, positive_int
from kopt.errors import KoptError

MIN_STEPS = 5  # fewer leave no slope to suggest a rate from


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text} is out of range; allowed: a finite number > 0")
    return value


def steps(text: str) -> int:
    value = positive_int(text)
    if value < MIN_STEPS:
        raise argparse.ArgumentTypeError(f"{text} is out of range; allowed: >= {MIN_STEPS}")
    return value


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="kopt lr-find",
        description="Learning-rate range test (Smith 2017): train briefly with "
        "an exponentially growing rate, write lr_find.png and lr_find.csv, suggest optimizer.lr.",
        epilog="Other arguments are train overrides, e.g. model=resnet optimizer=sgd.",
    )
    p.add_argument("--min-lr", type=positive_float, default=1e-7, help="the first rate (default 1e-7)")
    p.add_argument("--max-lr", type=positive_float, default=10.0, help="the last rate (default 10)")
    p.add_argument("--steps", type=steps, default=100, help="batches, one rate each (default 100)")
    return p


def main(argv: list[str]) -> None:
    args, overrides = parser().parse_known_args(argv)
    if args.min_lr >= args.max_lr:
        raise KoptError(f"--min-lr {args.min_lr:g} must be below --max-lr {args.max_lr:g}")
    from kopt.compose import compose_and_validate, runs_root
    from kopt.custom_argv import open_custom_keys
    from kopt.validate import validate_train

    overrides = open_custom_keys(overrides)  # model=custom: keys of your own without `+`
    line, cfgs = compose_and_validate(overrides, "config", validators=[validate_train])
    if line.multirun or line.print_only or not cfgs:
        raise KoptError("kopt lr-find takes overrides and --min-lr/--max-lr/--steps only (no -m, --cfg or Hydra flags)")
    from kopt.console import console, header
    from kopt.training.run import choices

    run_dir = runs_root() / "lr_find" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S_%f")
    run_dir.mkdir(parents=True)
    header("kopt lr-find", choices(cfgs[0]), str(run_dir))
    from kopt.lrfind import run_range_test

    result = run_range_test(cfgs[0], run_dir, args.min_lr, args.max_lr, args.steps)
    stopped = " (stopped early: the loss diverged)" if result["stopped_early"] else ""
    console.print(
        f"tried {result['steps_run']} rates from {args.min_lr:.1e} to "
        f"{args.min_lr * (args.max_lr / args.min_lr) ** ((result['steps_run'] - 1) / max(args.steps - 1, 1)):.1e}"
        f"{stopped}; wrote lr_find.csv and lr_find.png in {run_dir}"
    )
    console.print(f"suggested: optimizer.lr={result['suggested_lr']:.2e}")
