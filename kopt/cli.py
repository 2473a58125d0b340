"""``kopt <command> [overrides]``: read the command, then hand the rest to that command.

Nothing here imports TensorFlow: ``--help``, ``--cfg`` and config errors stay instant.
"""

from __future__ import annotations

import importlib
import os
import sys

from kopt import __version__
from kopt.errors import SIGPIPE, KoptError, RunFailed, fail, quiet_closed_stdout

SIGPIPE_EXIT = 128 + SIGPIPE  # a closed stdout: the exit of a process that SIGPIPE ended, as a shell reports it

# command -> (module with main(argv), one-line help). Modules are imported on use only.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("kopt.commands.train", "train a model (holdout or k-fold) and write a run dir"),
    "report": ("kopt.commands.report", "tabulate, group (mean ± std) and plot runs, sweeps and studies"),
    "compare": ("kopt.commands.compare", "statistical tests between two finished runs on the same folds"),
    "ab": ("kopt.commands.ab", "train configs a= and b= on identical folds, then compare them"),
    "ensemble": ("kopt.commands.ensemble", "ensemble the fold models of a run, several runs, or a study's top trials"),
    "tune": ("kopt.commands.tune", "search hyperparameters with Optuna (grid, random, bayes, genetic ...)"),
    "worker": ("kopt.commands.worker", "join a study in a shared storage (PostgreSQL) and run its trials"),
    "slurm": ("kopt.commands.slurm", "write the sbatch script that runs kopt worker as a SLURM array job"),
    "models": ("kopt.commands.models", "parameters, FLOPs, depth and weight memory of the model presets"),
    "lr-find": (
        "kopt.commands.lrfind",
        "learning-rate range test: plot the loss against the rate, suggest optimizer.lr",
    ),
    "predict": ("kopt.commands.predict", "class probabilities of new examples from a run, study or ensemble (CSV)"),
    "export": ("kopt.commands.export", "one deployable model (keras, saved_model, onnx, litert) with a model card"),
}


def usage() -> str:
    from kopt.paths import config_groups

    width = max(map(len, COMMANDS))
    lines = [
        f"kopt {__version__}: an experiment runner for Keras models, driven by Hydra configs.",
        "",
        "Usage: kopt <command> [group=option ...] [key=value ...] [hydra flags]",
        "",
        "Commands:",
        *(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()),
        "",
        "Config groups (pick with group=option):",
        *(f"  {group:<12} {', '.join(opts)}" for group, opts in config_groups().items() if opts),
        "",
        "Run `kopt <command> --help` for a command's options, `kopt train --cfg job` for its config.",
        'Tab completion: eval "$(kopt -sc install=bash)" (zsh: the same after bashcompinit; fish: install=fish).',
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    try:
        _main(argv)
    except BrokenPipeError:  # output piped into e.g. `head`: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(SIGPIPE_EXIT) from None
    if argv is None and argv_command() in EXIT_WITHOUT_TEARDOWN:  # the `kopt` process itself, not a caller's
        exit_without_teardown()


# Commands whose process, once they have succeeded, ends without Python's teardown.
EXIT_WITHOUT_TEARDOWN = ("train",)


def argv_command() -> str | None:
    return sys.argv[1] if len(sys.argv) > 1 else None


def exit_without_teardown() -> None:
    """End a successful command that loaded TensorFlow now: what it wrote is written and closed
    (run dir files are written atomically; the TensorBoard writers are closed), so what is left is
    Python's teardown, freeing TensorFlow's hundreds of thousands of objects one by one (0.6-0.7 s
    of `kopt train` on the 2-core VM, benchmarks/NOTES.md), which nobody waits for. The exit
    handlers still run (logging's flush and close among them) and the output is flushed; a
    process with another live non-daemon thread (which Python would wait for), or one of a
    multi-worker cluster (TF_CONFIG: its workers wind down together), ends as usual."""
    import threading

    if "tensorflow" not in sys.modules or "TF_CONFIG" in os.environ:
        return
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        return
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or a reader gone: nothing left to say
            pass
    os._exit(0)


def _main(argv: list[str] | None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        raise SystemExit(0 if argv else 2)
    if argv[0] in ("-V", "--version"):
        print(f"kopt {__version__}")
        return
    from kopt import completion

    if completion.requested(argv):  # `kopt -sc ...`, `kopt train -sc ...`: Tab completion for `kopt`
        try:
            completion.main(argv, list(COMMANDS))
        except KoptError as exc:
            fail(str(exc), exc.exit_code)
        return
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        fail(f"unknown command '{command}'; allowed: {', '.join(COMMANDS)}")
    from kopt.training.signals import NAMES, sigterm_interrupts, state

    def interrupted(code: int):
        if code == SIGPIPE_EXIT:  # stdout closed (kopt.errors.stdout_closed): quietly, as `git log | head`
            raise SystemExit(code) from None
        print(f"kopt: interrupted ({NAMES.get(code - 128, 'SIGINT')})", file=sys.stderr)
        raise SystemExit(code) from None

    sigterm_interrupts()
    quiet_closed_stdout()
    try:
        module = importlib.import_module(COMMANDS[command][0])
        module.main(rest)
    except KeyboardInterrupt as exc:
        interrupted(getattr(exc, "exit_code", 130))
    except Exception as exc:
        if state.received:  # the signal, raised inside library code, came back as another error
            interrupted(128 + state.received)
        if isinstance(exc, (KoptError, RunFailed)):
            fail(str(exc), exc.exit_code)
        raise
    if state.received:  # a signal that library code swallowed: still an interrupted command
        interrupted(128 + state.received)


if __name__ == "__main__":
    main()
