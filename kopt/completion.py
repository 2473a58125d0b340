"""Shell completion for ``kopt``: Hydra's completion plugins, installed for the program ``kopt``.

``eval "$(kopt train -sc install=bash)"`` (or ``kopt -sc install=bash``) prints Hydra's bash
script, registered for ``kopt``. On Tab the script runs ``kopt -sc query=bash`` with COMP_LINE
set to what was typed, e.g. ``kopt train model=``. Hydra's plugin strips one word (the program),
so the command word is taken off here first and the query runs on that command's config:
``train`` completes ``config.yaml``'s groups, options and keys, ``tune`` those of ``tune.yaml``.
The other commands get no words back, so the shell falls back to file names. zsh uses the
bash script through ``bashcompinit``; fish has Hydra's own script.
"""

from __future__ import annotations

import os
import re
import sys

from kopt.errors import KoptError

FLAGS = {"-sc", "--shell-completion"}
CONFIGS = {"train": "config", "tune": "tune"}  # the commands that are Hydra apps, and their config
SHELLS = ("bash", "zsh", "fish")
ACTIONS = ("install", "uninstall", "query")


def requested(argv: list[str]) -> bool:
    """``kopt -sc ...`` or ``kopt train|tune ... -sc ...``."""
    return bool(argv) and (argv[0] in FLAGS or (argv[0] in CONFIGS and bool(FLAGS & set(argv[1:]))))


def main(argv: list[str], commands: list[str]) -> None:
    words = [a for a in argv[1 if argv[0] in CONFIGS else 0 :] if a not in FLAGS]
    given = dict(w.split("=", 1) for w in words if "=" in w and w.split("=", 1)[0] in ACTIONS)
    if len(given) != 1 or len(words) != 1:
        raise KoptError(
            "-sc (--shell-completion) takes one of install=SHELL, uninstall=SHELL or query=SHELL; "
            f"allowed shells: {', '.join(SHELLS)}"
        )
    ((action, shell),) = given.items()
    if shell not in SHELLS:
        raise KoptError(f"-sc {action}={shell}: unknown shell; allowed: {', '.join(SHELLS)}")
    if action == "query":
        query(shell, commands)
    else:  # Hydra's script, registered for the name the program runs under: `kopt`
        _hydra(["-sc", f"{action}={shell}"], "config")


def query(shell: str, commands: list[str]) -> None:
    line = os.environ.get("COMP_LINE", "")
    point = os.environ.get("COMP_POINT", "")
    if point.isdigit():
        line = line[: int(point)]  # what sits left of the cursor
    match = re.match(r"\s*\S+\s+(\S*)(\s.*)?$", line, re.S)
    if not match:
        return
    command, rest = match.group(1), match.group(2)
    sep = "\n" if shell == "fish" else " "
    if rest is None:  # still typing the command
        print(sep.join(commands + ["--help", "--version"]))
        return
    if command not in CONFIGS:
        return  # no words: the shell completes file names (run dirs)
    rest = rest.lstrip()
    word = "" if not rest or rest[-1].isspace() else rest.split()[-1]
    if word.startswith("-"):
        print(sep.join(_hydra_flags()))
        return
    os.environ["COMP_LINE"] = f"kopt {rest}"  # the line Hydra's plugin expects: program, then overrides
    os.environ["COMP_POINT"] = str(len(os.environ["COMP_LINE"]))
    extra = []
    from kopt.compose import split_argv

    try:
        user_dir = split_argv(rest.split()).user_config_dir
    except KoptError:
        user_dir = None
    if user_dir and os.path.isdir(os.path.expanduser(user_dir)):
        extra = ["--config-dir", os.path.expanduser(user_dir)]
    if os.environ.get("HYDRA_COMP_DEBUG") != "1":  # a half-typed line must not print errors into the prompt
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())
    _hydra([*extra, "-sc", f"query={shell}"], CONFIGS[command])


def _hydra_flags() -> list[str]:
    from hydra._internal.utils import get_args_parser

    return sorted(s for action in get_args_parser()._actions for s in action.option_strings if s.startswith("--"))


def _hydra(argv: list[str], config_name: str) -> None:
    from kopt.hydra_app import run_hydra_app

    run_hydra_app(_no_task, argv, config_name, "kopt")


def _no_task(cfg) -> None:  # -sc never runs the task
    raise AssertionError("shell completion ran a job")
