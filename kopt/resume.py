"""``kopt train resume=...``: continue an interrupted run, or finish an interrupted sweep.

* ``resume=<run dir>`` (anywhere; or ``resume=last``, the most recently started run in runs/train) continues that
  run in its own dir with its own config (``.hydra/config.yaml``): finished folds are kept and
  the unfinished fold continues after its last checkpointed epoch. Other overrides are allowed
  only if they change nothing in that config; ``hydra.*`` overrides are refused. A completed run
  is left alone (exit 0).
* ``kopt train -m <the same overrides> resume=true`` finds the newest sweep in runs/multirun
  that was started with exactly these overrides (or takes ``resume=<sweep dir>``), runs the
  sweep again in that dir, skips the jobs whose run dir is completed and resumes the others.

Nothing here imports TensorFlow, and nothing read from a run dir is executed: configs are
YAML read with OmegaConf's safe loader, everything else is JSON or ``.npz`` without pickle.
"""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from kopt.compose import CommandLine, compose_job, resolve_dir, runs_root, search_dirs
from kopt.errors import KoptError
from kopt.procs import process_alive
from kopt.rundir import COMPLETED, DIED, RUNNING, SUMMARY, check_writable, claim, read_summary
from kopt.rundir.read import run_died

LAST = ("last", "true")


def requested(cfgs: list[DictConfig]) -> str | None:
    """The ``resume`` value of a command line (None, or a path / ``last`` / ``true``)."""
    values = {str(c.get("resume")).lower() if isinstance(c.get("resume"), bool) else c.get("resume") for c in cfgs}
    if len(values) > 1:
        raise KoptError("resume: one value only (it cannot be swept)")
    value = values.pop() if values else None
    return None if value in (None, "false", "") else str(value)


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def without_resume(overrides: list[str]) -> list[str]:
    return [o for o in overrides if _key(o) != "resume"]


def _load_yaml(path: Path):
    try:
        return OmegaConf.load(path)  # yaml safe loader: no Python objects
    except Exception as exc:  # yaml and OmegaConf raise a variety of types
        raise KoptError(f"{path}: unreadable ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None


# keys added after a run was made: the value that run trained with, so it resumes exactly
ADDED_KEYS = {("regularizer", "bn_momentum"): 0.99}  # Keras' default, before the key


def _read_config(run_dir: Path) -> DictConfig:
    path = run_dir / ".hydra" / "config.yaml"
    cfg = _load_yaml(path)
    if not isinstance(cfg, DictConfig):
        raise KoptError(f"{path}: not a kopt config")
    for (group, key), value in ADDED_KEYS.items():
        node = cfg.get(group)
        if isinstance(node, DictConfig) and key not in node:
            node[key] = value
    return cfg


def _read_overrides(run_dir: Path) -> list[str]:
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    overrides = _load_yaml(path)
    if not OmegaConf.is_list(overrides):
        raise KoptError(f"{path}: not a list of overrides")
    return [str(o) for o in overrides]


def _read_summary(run_dir: Path) -> dict:
    """The run's summary as written ({} when there is none); a damaged one is one line naming it."""
    if not (run_dir / SUMMARY).is_file():
        return {}
    return read_summary(run_dir, strict=True).to_dict()


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def holds_run(path: Path) -> bool:
    """Whether ``path`` already holds a kopt run (its config or its summary)."""
    return (Path(path) / ".hydra" / "config.yaml").is_file() or (Path(path) / SUMMARY).is_file()


def _started(run_dir: Path) -> float:
    """When a run started: its recorded start time, else when its config was written."""
    try:
        started = _read_summary(run_dir).get("started_at")
        if isinstance(started, str):
            return dt.datetime.fromisoformat(started).timestamp()
    except (KoptError, ValueError, TypeError):
        pass
    return (run_dir / ".hydra" / "config.yaml").stat().st_mtime


def check_fresh_output(line: CommandLine) -> None:
    """A new run (or sweep) never writes into a dir that already holds one: that mixes the two
    runs' files. The way to continue one is ``resume=``."""
    where = line.output_dir
    if where is None:
        return
    if line.multirun and (where / "multirun.yaml").is_file():
        raise KoptError(
            f"hydra.sweep.dir={line.output_pattern}: {_display(where)} already holds a kopt sweep; "
            "choose another hydra.sweep.dir, or finish that sweep with the same command and resume=true"
        )
    if not line.multirun and holds_run(where):
        raise KoptError(
            f"hydra.run.dir={line.output_pattern}: {_display(where)} already holds a kopt run; choose "
            f"another hydra.run.dir, or continue that run with kopt train resume={_display(where)}"
        )


def _check_train_run(path: Path, target: str) -> None:
    """A study dir (or any run of another command) is not continued as a train run."""
    summary = _read_summary(path)
    cfg = _read_config(path)
    if (
        "tuner" in cfg
        or "search" in cfg
        or "counts" in summary
        or "best_trial" in summary
        or (path / "journal.log").exists()
    ):
        raise KoptError(
            f"resume={target}: not a kopt train run (a kopt tune study dir); a study resumes when its "
            "kopt tune command runs again"
        )


def find_run(target: str) -> Path:
    """The run dir ``resume=<target>`` names: a path anywhere, or ``last``, the most recently
    started run in runs/train (by its recorded start time, not by name)."""
    if target.lower() in LAST:
        train = runs_root() / "train"
        runs = [p for p in train.iterdir() if (p / ".hydra" / "config.yaml").is_file()] if train.is_dir() else []
        if not runs:
            raise KoptError(f"resume={target}: no run to resume in {_display(train)}")
        return max(runs, key=lambda p: (_started(p), p.name))
    path = resolve_dir("resume", target)
    if (path / "multirun.yaml").is_file():
        raise KoptError(f"resume={target} is a sweep: run the sweep's command again with -m and resume=true")
    if not (path / ".hydra" / "config.yaml").is_file():
        raise KoptError(f"resume={target}: not a kopt run dir (no .hydra/config.yaml there)")
    _check_train_run(path, target)
    return path


def _still_running(summary: dict) -> bool:
    if summary.get("status") != RUNNING or summary.get("host") != socket.gethostname():
        return False
    pid = summary.get("pid")
    # the process that last wrote the summary was alive then (a resumed run keeps its first start time)
    written = summary.get("finished_at") or summary.get("started_at")
    try:
        since = dt.datetime.fromisoformat(written) if isinstance(written, str) else None
    except ValueError:
        since = None
    return isinstance(pid, int) and process_alive(pid, since)


def claim_run(run_dir: Path, summary: dict, seed: int) -> None:
    """Mark ``run_dir`` as running in this process before TensorFlow loads (seconds), so that a
    ``resume=`` of it from another process in that start-up window is refused."""
    claim(run_dir, summary, seed)


def _flat(node, prefix: str = "") -> dict[str, object]:
    if isinstance(node, dict):
        out: dict[str, object] = {}
        for k, v in node.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


def config_differences(old: DictConfig, new: DictConfig, ignore=("resume",)) -> list[str]:
    a = _flat(OmegaConf.to_container(old, resolve=False))
    b = _flat(OmegaConf.to_container(new, resolve=False))
    keys = sorted(
        k for k in set(a) | set(b) if k.split(".")[0] not in ignore and a.get(k, "<unset>") != b.get(k, "<unset>")
    )
    return [f"{k}: {a.get(k, '<unset>')} -> {b.get(k, '<unset>')}" for k in keys]


def check_overrides(run_dir: Path, line: CommandLine, config_name: str) -> None:
    """Overrides next to ``resume=<run>`` may only restate the run's own config."""
    overrides = without_resume(line.overrides)
    for o in overrides:
        if _key(o).startswith(("hydra.", "hydra/")):
            raise KoptError(f"{o}: cannot be combined with resume; the run continues in {_display(run_dir)}")
    if not overrides:
        return
    original = _read_overrides(run_dir)
    dirs = search_dirs(line.user_config_dir)
    try:
        before = compose_job(config_name, without_resume(original), dirs)
    except KoptError as exc:
        raise KoptError(f"cannot compose the original overrides of {_display(run_dir)}: {exc}") from None
    try:
        changes = config_differences(before, compose_job(config_name, without_resume(original) + overrides, dirs))
    except KoptError as exc:
        changes = [str(exc)]
    if changes:
        raise KoptError(
            f"{' '.join(overrides)}: conflicts with the config of {_display(run_dir)} ({changes[0]}); "
            "resume keeps the run's original config: drop the override, or start a new run"
        )


def recorded_backend(cfg: DictConfig, summary: dict, run_dir: Path) -> None:
    """A run goes on with the backend it was trained on (summary.json's ``versions.backend``): with
    ``trainer.backend=auto`` it followed ``KERAS_BACKEND`` then, and a resume under another one would
    finish the run on another backend, off its documented exactness. Says so when it overrides it."""
    import os
    import sys

    from kopt.backend import resolve

    recorded = (summary.get("versions") or {}).get("backend")
    if not recorded or str(cfg.trainer.get("backend") or "auto") != "auto":
        return  # (a backend named in the config is the run's whatever KERAS_BACKEND says)
    now = resolve("auto")
    if now != recorded:
        print(
            f"kopt: {_display(run_dir)} was trained on {recorded} (trainer.backend=auto): it resumes on "
            f"{recorded}, not on KERAS_BACKEND={now}",
            file=sys.stderr,
            flush=True,
        )
    os.environ["KERAS_BACKEND"] = recorded


def resume_run(target: str, line: CommandLine, config_name: str = "config") -> dict | None:
    """``kopt train resume=<target>``: continue one run dir in place (TensorFlow loads here)."""
    run_dir = find_run(target)
    cfg = _read_config(run_dir)
    check_overrides(run_dir, line, config_name)
    summary = _read_summary(run_dir)
    status = summary.get("status")
    if status == COMPLETED:
        print(f"kopt: {_display(run_dir)} is already completed; nothing to resume")
        return summary
    if _still_running(summary):
        raise KoptError(f"{_display(run_dir)} is still running (pid {summary['pid']}); stop it first")
    if run_died(summary):
        status = DIED  # its process is gone (OOM kill, power loss): resumed like an interrupted run
    from kopt.validate import validate_train

    validate_train(cfg)
    if cfg.trainer.get("strategy") == "multi_worker":
        raise KoptError(
            f"{_display(run_dir)} was trained with trainer.strategy=multi_worker: resuming it is not "
            "supported (every worker would need the chief's checkpoints); start it again"
        )
    recorded_backend(cfg, summary, run_dir)
    check_writable(run_dir)
    claim_run(run_dir, summary, int(cfg.get("seed", 0)))
    print(f"kopt: resuming {_display(run_dir)} (status {status or 'unknown'})", flush=True)
    from kopt.training.run import run_train

    with _log_to(run_dir / "train.log"):
        return run_train(cfg, run_dir, resume=True)


class _log_to:
    """Append log records to the run's train.log, as the Hydra job would have."""

    def __init__(self, path: Path):
        self.path = path
        self.handler = None

    def __enter__(self):
        import logging

        self.handler = logging.FileHandler(self.path, mode="a")
        from kopt.console import LogFormatter  # printed lines as they are, like Hydra's job log

        self.handler.setFormatter(LogFormatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
        logging.getLogger().addHandler(self.handler)
        return self

    def __exit__(self, *exc):
        import logging

        logging.getLogger().removeHandler(self.handler)
        self.handler.close()


# -- sweeps --------------------------------------------------------------------------------------
def _sweep_overrides(sweep_dir: Path) -> tuple[list[str], str | None] | None:
    path = sweep_dir / "multirun.yaml"
    if not path.is_file():
        return None
    try:
        hydra = OmegaConf.to_container(OmegaConf.load(path), resolve=False).get("hydra", {})
    except Exception:
        return None
    return [str(o) for o in hydra.get("overrides", {}).get("task", [])], hydra.get("sweep", {}).get("subdir")


def find_sweep(target: str, line: CommandLine) -> Path:
    """The sweep dir to finish: ``resume=<sweep dir>``, the configured ``hydra.sweep.dir`` when it
    is a fixed folder, or the newest sweep beside it started with the same overrides."""
    task = [o for o in without_resume(line.overrides) if not _key(o).startswith(("hydra.", "hydra/"))]
    if target.lower() not in LAST:
        candidates = [resolve_dir("resume", target)]
    elif line.output_pattern and "${" not in line.output_pattern:
        candidates = [line.output_dir]
    else:
        parent = line.output_dir.parent if line.output_dir else runs_root() / "multirun"
        candidates = sorted((p for p in parent.iterdir() if p.is_dir()), reverse=True) if parent.is_dir() else []
    for sweep in candidates:
        found = _sweep_overrides(sweep)
        if found is None:
            continue
        overrides, subdir = found
        if overrides == task:
            if subdir not in (None, "${hydra.job.num}"):
                raise KoptError(
                    f"{_display(sweep)}: hydra.sweep.subdir={subdir}; resume=true needs the default job folders"
                )
            return sweep
        if target.lower() not in LAST or len(candidates) == 1:
            raise KoptError(
                f"resume={target}: {_display(sweep)} was started with other overrides "
                f"({' '.join(overrides)}); rerun exactly that command with resume=true"
            )
    where = _display(candidates[0].parent) if candidates else "runs/multirun"
    raise KoptError(
        f"resume={target}: no sweep in {where} was started with these overrides; drop resume=true to start a new sweep"
    )


def prepare_sweep(target: str, line: CommandLine, cfgs: list[DictConfig], argv: list[str]) -> tuple[list[str], Path]:
    """Check that the old sweep's jobs match this command's, report, and return the Hydra argv
    (``resume`` dropped so every job's stored config stays as it was, sweep dir pinned) and the
    sweep dir."""
    sweep = find_sweep(target, line)
    check_writable(sweep)
    done = 0
    for num, cfg in enumerate(cfgs):
        job_dir = sweep / str(num)
        if not (job_dir / ".hydra" / "config.yaml").is_file():
            continue
        changes = config_differences(_read_config(job_dir), cfg)
        if changes:
            raise KoptError(
                f"{_display(job_dir)}: its config differs from job {num} of this command ({changes[0]}); "
                "cannot resume this sweep"
            )
        done += _read_summary(job_dir).get("status") == COMPLETED
    print(
        f"kopt: resuming sweep {_display(sweep)}: {done} of {len(cfgs)} jobs completed, running the other "
        f"{len(cfgs) - done}",
        flush=True,
    )
    from kopt.sweep import pin_sweep_dir

    return [a for a in argv if not (not a.startswith("-") and _key(a) == "resume")] + [pin_sweep_dir(sweep)], sweep


def resume_job(cfg: DictConfig, job_dir: Path, num: int) -> dict:
    """One job of a resumed sweep: skipped when completed, continued otherwise."""
    summary = _read_summary(job_dir)
    if summary.get("status") == COMPLETED:
        print(f"kopt: job {num} is already completed in {_display(job_dir)}; skipped", flush=True)
        return summary
    recorded_backend(cfg, summary, job_dir)
    from kopt.training.run import run_train

    return run_train(cfg, job_dir, resume=True, resume_hint=False)  # kopt train -m says how to finish the sweep
