"""``kopt slurm tuner.storage=URL tuner.study_name=NAME [--array N ...]``: write the sbatch script
that runs ``kopt worker`` on a study as a SLURM array job, one worker per array task.

Writes the script only (submit it with ``sbatch``); no TensorFlow, no connection to the storage.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from pathlib import Path

from kopt.argparser import ArgumentParser, non_negative_int, positive_int
from kopt.commands.worker import parse as parse_worker

DESCRIPTION = """\
Write an sbatch script that runs `kopt worker` on an existing study (made by `kopt tune ...
tuner.storage=postgresql://...`) as a SLURM array job: --array tasks, each one worker with its
share of the partition's resources. Submit it with `sbatch SCRIPT`."""

# SLURM's --time forms (sbatch(1)): minutes, minutes:seconds, hours:minutes:seconds, days-hours,
# days-hours:minutes, days-hours:minutes:seconds. The first number is unbounded (90 minutes,
# 48:00:00); the others are within their unit: hours 0-23 after days, minutes and seconds 0-59.
TIME = re.compile(
    r"(?P<d>\d+)-(?P<dh>\d{1,2})(:(?P<dm>\d{1,2})(:(?P<ds>\d{1,2}))?)?"
    r"|(?P<h>\d+):(?P<hm>\d{1,2}):(?P<hs>\d{1,2})"
    r"|(?P<m>\d+)(:(?P<ms>\d{1,2}))?"
)
LIMITS = {"dh": 23, "dm": 59, "ds": 59, "hm": 59, "hs": 59, "ms": 59}
MEM = re.compile(r"\d+[KMGT]?")
PARTITION = re.compile(r"[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*")  # a partition, or a comma-separated list


def slurm_time(text: str) -> str:
    found = TIME.fullmatch(text)
    if not found or any(int(found[k]) > top for k, top in LIMITS.items() if found[k] is not None):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a SLURM time; allowed: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS "
            "(hours 0-23 after days, minutes and seconds 0-59)"
        )
    return text


def slurm_mem(text: str) -> str:
    if not MEM.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a SLURM memory size; allowed: e.g. 4000, 16G")
    return text


def slurm_partition(text: str) -> str:
    if not PARTITION.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a SLURM partition; allowed: letters, digits, '_', '.' and '-', "
            "several separated by commas"
        )
    return text


def a_path(text: str) -> str:
    """A path for the script: any character but a line break or another control character (it goes
    into an #SBATCH line, quoted)."""
    if not text or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise argparse.ArgumentTypeError(f"{text!r}: allowed: a path without line breaks or control characters")
    return text


def default_activate() -> str | None:
    """The virtual environment this kopt runs from (its bin/activate), else None."""
    activate = Path(sys.prefix) / "bin" / "activate"
    return str(activate) if sys.prefix != sys.base_prefix and activate.is_file() else None


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="kopt slurm",
        description=DESCRIPTION,
        epilog="example: kopt slurm tuner.storage=postgresql://kopt:PASSWORD@db-host/kopt "
        "tuner.study_name=digits --array 32 --gpus-per-task 1 --time 04:00:00",
    )
    p.add_argument(
        "worker",
        nargs="*",
        metavar="tuner.storage=URL tuner.study_name=NAME",
        help="the study the workers join (as for kopt worker)",
    )
    p.add_argument("--array", type=positive_int, default=4, help="array tasks, i.e. workers (default 4)")
    p.add_argument("--parallel", type=positive_int, default=None, help="at most this many tasks at once (%%N)")
    p.add_argument(
        "--partition", type=slurm_partition, default=None, help="SLURM partition (default: the cluster's default)"
    )
    p.add_argument("--time", type=slurm_time, default="04:00:00", help="wall-clock limit per task (default 04:00:00)")
    p.add_argument("--gpus-per-task", type=non_negative_int, default=0, help="GPUs per worker (default 0)")
    p.add_argument("--cpus-per-task", type=positive_int, default=4, help="cores per worker (default 4)")
    p.add_argument("--mem", type=slurm_mem, default="16G", help="memory per worker (default 16G)")
    p.add_argument(
        "--activate",
        type=a_path,
        default=default_activate(),
        help="script that sets up the environment, sourced first (default: this kopt's virtualenv, "
        "if any); 'none' for nothing",
    )
    p.add_argument(
        "--chdir", type=a_path, default=None, help="where the workers write runs/ (default: the current folder)"
    )
    p.add_argument("-o", "--out", default=None, help="script path (default kopt-worker-<study>.sbatch)")
    return p


def render(values: dict[str, str], args) -> str:
    study = values["tuner.study_name"]
    chdir = os.path.abspath(args.chdir or os.getcwd())
    array = f"0-{args.array - 1}" + (f"%{args.parallel}" if args.parallel else "")
    lines = [
        "#!/bin/bash",
        f"# written by kopt slurm: {args.array} kopt worker(s) on study {study}; submit with: sbatch THIS_FILE",
        f"#SBATCH --job-name=kopt-{study}",
        f"#SBATCH --array={array}",
        f"#SBATCH --time={args.time}",
        "#SBATCH --ntasks=1",
        f"#SBATCH --cpus-per-task={args.cpus_per_task}",
        f"#SBATCH --mem={args.mem}",
    ]
    if args.partition:
        lines.append(f"#SBATCH --partition={args.partition}")
    if args.gpus_per_task:
        lines.append(f"#SBATCH --gres=gpu:{args.gpus_per_task}")
    logs = chdir.replace("%", "%%") + f"/runs/tune/{study}/slurm/%A_%a.out"  # %% is a plain % to sbatch
    lines += [  # sbatch splits an #SBATCH line's arguments with the shell's quotes ('#' starts a comment)
        f"#SBATCH {shlex.quote('--chdir=' + chdir)}",
        f"#SBATCH {shlex.quote('--output=' + logs)}",
        "set -eo pipefail",
    ]
    if args.activate and args.activate != "none":
        lines.append(f"source {shlex.quote(os.path.abspath(args.activate))}")
    lines.append(
        "exec kopt worker " + " ".join(shlex.quote(f"{k}={values[k]}") for k in ("tuner.storage", "tuner.study_name"))
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    values = parse_worker(args.worker)
    from kopt.errors import KoptError
    from kopt.rundir import atomic_write_text
    from kopt.schemas.tuner import STUDY_NAME

    if not STUDY_NAME.fullmatch(values["tuner.study_name"]):
        raise KoptError(f"tuner.study_name={values['tuner.study_name']!r}: allowed: letters, digits, '.', '_' and '-'")
    if args.activate and args.activate != "none" and not Path(args.activate).is_file():
        raise KoptError(f"--activate {args.activate}: no such file; give a script to source, or 'none'")
    out = Path(args.out or f"kopt-worker-{values['tuner.study_name']}.sbatch")
    logs = Path(args.chdir or ".") / "runs" / "tune" / values["tuner.study_name"] / "slurm"
    if args.chdir and Path(args.chdir).exists() and not Path(args.chdir).is_dir():
        raise KoptError(f"--chdir {args.chdir}: not a directory; give the folder the workers write runs/ into")
    try:
        logs.mkdir(parents=True, exist_ok=True)  # SLURM does not create the --output folder
    except OSError as exc:
        raise KoptError(f"--chdir {args.chdir or '.'}: cannot create {logs}: {exc.strerror}") from None
    atomic_write_text(out, render(values, args))
    print(f"written: {out}\nsubmit:  sbatch {out}")
