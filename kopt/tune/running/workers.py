"""``tuner.n_workers=N``: N worker processes share the study through its storage.

Each worker joins the study from the storage alone (the plan is a study system attribute), splits
the machine's cores with the others (TensorFlow intra-op threads = cores // N) and claims trials
until the study has enough. The parent process only watches the storage and draws the output.

Run one worker by hand with ``python -m kopt.tune.running.workers --storage URL --study NAME``.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import kopt
from kopt.argparser import ArgumentParser
from kopt.errors import Interrupted, KoptError, RunFailed
from kopt.procs import usable_cores

EXIT_MAX_FAILURES = 3


def threads_per_worker(n_workers: int) -> int:
    return max(1, usable_cores() // n_workers)


def visible_gpus(environ=None, probe=None) -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries: that variable where it is
    set, else what ``nvidia-smi`` lists (none without it). No TensorFlow."""
    environ = os.environ if environ is None else environ
    if "CUDA_VISIBLE_DEVICES" in environ:
        ids = [d.strip() for d in environ["CUDA_VISIBLE_DEVICES"].split(",") if d.strip()]
        return [] if not ids or ids[0].startswith("-") else ids  # CUDA stops at the first invalid id
    return (probe or _nvidia_smi_gpus)()


def _nvidia_smi_gpus() -> list[str]:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip().isdigit()] if out.returncode == 0 else []


def gpu_assignment(visible: list[str], n_workers: int) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES for each of ``n_workers`` workers: one visible GPU each, in turn (with
    more workers than GPUs, several share one); None for all when there is no GPU."""
    if not visible:
        return [None] * n_workers
    return [visible[i % len(visible)] for i in range(n_workers)]


def _die_with_parent() -> None:
    """Linux: the worker gets SIGTERM when the parent dies (even by kill -9)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def worker_env(threads: int, gpu: str | None = None) -> dict[str, str]:
    """What a worker's environment changes: its cores' share, and its GPU where there is one."""
    env = {"TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": str(threads)}
    if gpu is not None:  # nvidia-smi's indices are in PCI bus order; CUDA's default order may differ
        env.update(CUDA_VISIBLE_DEVICES=gpu, CUDA_DEVICE_ORDER=os.environ.get("CUDA_DEVICE_ORDER", "PCI_BUS_ID"))
    return env


def spawn(
    spec: str,
    study_name: str,
    study_dir: Path,
    index: int,
    threads: int,
    since: float,
    gpu: str | None = None,
    backend: str = "tensorflow",
):
    """Start worker ``index``: forked from the fork server that imported TensorFlow once
    (kopt.tune.running.forked), or a fresh ``python -m kopt.tune.running.workers`` where there is none."""
    from kopt.tune.running import forked

    env = worker_env(threads, gpu)
    log_dir = Path(study_dir) / "workers"
    log_dir.mkdir(parents=True, exist_ok=True)
    args = ["--storage", spec, "--study", study_name, "--study-dir", str(study_dir), "--worker", str(index)]
    args += ["--threads", str(threads), "--since", repr(since)]
    worker = forked.start(_forked_worker, (args, env, str(log_dir / f"{index}.log")), backend)
    if worker is not None:
        return worker
    full_env = {**os.environ, **env}
    root = str(Path(kopt.__file__).resolve().parents[1])
    full_env["PYTHONPATH"] = root + (os.pathsep + full_env["PYTHONPATH"] if full_env.get("PYTHONPATH") else "")
    with open(log_dir / f"{index}.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "kopt.tune.running.workers", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            preexec_fn=_die_with_parent,
            # a session of its own: where the kernel shares the CPU between sessions first (Linux's
            # autogroup scheduling, sched_autogroup_enabled=1), N workers in kopt tune's session got
            # one session's share together, e.g. one core of two beside any one busy process
            start_new_session=True,
        )


def _forked_worker(args: list[str], env: dict[str, str], log_path: str) -> None:
    """A worker forked by the fork server, as a fresh one starts: a session of its own, SIGTERM when
    its parent (the server) dies, ``env`` over the server's environment, stdin from /dev/null, its
    output appended to its log, the signal handlers of a fresh Python (the server ignores SIGINT:
    Ctrl-C reaches kopt tune, which passes it on)."""
    os.setsid()
    _die_with_parent()
    os.environ.update(env)
    devnull = os.open(os.devnull, os.O_RDONLY)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        main(args)
    finally:  # what a fresh worker's exit runs (logging's flush and close, libraries' handlers): the
        # fork server's child ends with os._exit, which runs none
        atexit._run_exitfuncs()


def _stop(procs: list[subprocess.Popen], grace: float = 30.0, signum: int = signal.SIGTERM) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signum)  # the worker marks its trial FAIL "interrupted"
    deadline = time.time() + grace
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


REPLACEMENT_ROUNDS = 3  # workers killed by a signal (kill -9, the OOM killer) are replaced this often


def _watch(procs: dict[int, subprocess.Popen], study, ui, on_poll, poll_s: float, timeline=None) -> None:
    from kopt.tune.results.report import trial_rows

    t0, cpu0, polls, seen, finished = time.time(), time.process_time(), 0, None, []
    while True:
        running = [p for p in procs.values() if p.poll() is None]
        rows = trial_rows(study)
        states = [(r["number"], r["state"]) for r in rows]
        if states != seen:  # the display: only when a trial started or ended
            ui.refresh_rows(rows)
            seen = states
        ended = [s for s in states if s[1] not in ("RUNNING", "WAITING")]
        # the study dir's reports (trials.csv, summary.json, the study.html refresh), as with one
        # worker: when a trial has ended since the last time, and once at the end
        if on_poll is not None and (ended != finished or not running):
            on_poll()
            finished = ended
        polls += 1
        if not running:
            break
        time.sleep(poll_s)
    if timeline is not None:
        timeline.mark(
            "watch", polls=polls, wall_s=round(time.time() - t0, 4), cpu_s=round(time.process_time() - cpu0, 4)
        )


SIGNAL_EXITS = (130, 143)  # a worker stopped by SIGINT/SIGTERM (not from us) after marking its trial


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code if code < 0 else code - 128).name
    except ValueError:
        return f"signal {-code}"


def run_workers(plan, study, spec: str, study_dir: Path, since: float, ui, on_poll=None, poll_s: float = 1.0) -> None:
    """Start plan.tuner.n_workers workers and watch the study until they are all done. A worker
    killed by a signal leaves its trial RUNNING: the other workers (or, once they are done, a
    replacement) mark it FAIL "interrupted" and run its parameters again."""
    from kopt.backend import study_backend
    from kopt.tune.running.forked import stop_server
    from kopt.tune.running.timeline import Timeline, process_start_time
    from kopt.tune.trials.recovery import recover_dead_workers

    backend = study_backend(plan.bases)
    n = int(plan.tuner["n_workers"])
    threads = threads_per_worker(n)
    gpus = gpu_assignment(visible_gpus(), n)  # one worker per visible GPU
    (Path(study_dir) / "workers").mkdir(parents=True, exist_ok=True)
    timeline = Timeline(Path(study_dir) / "workers" / "parent.timeline")
    timeline.mark("begin", proc_start=process_start_time(), pid=os.getpid(), sid=os.getsid(0))
    procs = {}
    killed: list[str] = []
    try:
        for i in range(n):
            procs[i] = spawn(spec, plan.study_name, study_dir, i, threads, since, gpus[i], backend)
            timeline.mark("spawn", worker=i, pid=procs[i].pid)
        for _ in range(REPLACEMENT_ROUNDS + 1):
            _watch(procs, study, ui, on_poll, poll_s, timeline)
            codes = {i: p.returncode for i, p in procs.items()}
            if any(c == EXIT_MAX_FAILURES for c in codes.values()):
                raise RunFailed(
                    f"stopped: tuner.max_failures={plan.tuner['max_failures']} trials failed; see trials.csv"
                )
            dead = [i for i, c in codes.items() if c < 0 or c in SIGNAL_EXITS]
            broken = [i for i, c in codes.items() if c not in (0, EXIT_MAX_FAILURES) and i not in dead]
            if broken:
                i = broken[0]
                log = Path(study_dir) / "workers" / f"{i}.log"
                raise RunFailed(f"worker {i} exited with code {codes[i]}: {_last_line(log)} (log: {log})")
            if not dead:
                break
            killed += [f"worker {i} ({_signal_name(codes[i])})" for i in dead]
            if not recover_dead_workers(study, study_dir):  # nothing left to redo
                break
            procs = {i: spawn(spec, plan.study_name, study_dir, i, threads, since, gpus[i], backend) for i in dead}
            for i in dead:
                timeline.mark("spawn", worker=i, pid=procs[i].pid)
        else:
            raise RunFailed(
                f"workers were killed {len(killed)} times ({', '.join(killed)}); "
                "run the same kopt tune command again to finish the study"
            )
    except KeyboardInterrupt as exc:  # the workers, in sessions of their own, get the same signal from us
        _stop(list(procs.values()), signum=signal.SIGTERM if getattr(exc, "exit_code", 130) == 143 else signal.SIGINT)
        raise
    finally:
        stop_server()  # (its memory is TensorFlow's; a worker still running gets SIGTERM, as when kopt tune ends)
    if killed:
        print(
            f"kopt: warning: {', '.join(killed)} killed; the trials they left were marked FAIL "
            '"interrupted" and run again',
            file=sys.stderr,
            flush=True,
        )


def run_worker(
    spec: str,
    study_name: str,
    study_dir: Path,
    index: int = 0,
    threads: int = 0,
    since: float | None = None,
    on_trial=None,
    timeline=None,
) -> None:
    """One worker: join the study from its storage and run trials until there are enough."""
    from kopt.backend import study_backend
    from kopt.runtime import setup_tensorflow
    from kopt.tune.running.loop import work
    from kopt.tune.running.study import join_study, quiet_optuna
    from kopt.tune.running.timeline import Timeline

    timeline = timeline or Timeline(None)
    quiet_optuna()
    study, plan = join_study(spec, study_name, Path(study_dir), index)
    timeline.mark("joined")
    setup_tensorflow(
        plan.seed,
        deterministic=False,
        intra_threads=threads,
        inter_threads=1 if threads else 0,
        backend=study_backend(plan.bases),
    )
    work(
        study, plan, Path(study_dir), since if since is not None else time.time(), on_trial=on_trial, timeline=timeline
    )


def main(argv: list[str] | None = None) -> None:
    from kopt.tune.running.timeline import Timeline, process_start_time

    parser = ArgumentParser(prog="python -m kopt.tune.running.workers", description=__doc__)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--study", required=True)
    parser.add_argument("--study-dir", default=None, help="default: runs/tune/<study>")
    parser.add_argument("--worker", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--since", type=float, default=None)
    try:
        args = parser.parse_args(argv)
        study_dir = Path(args.study_dir or Path("runs") / "tune" / args.study)
        (study_dir / "workers").mkdir(parents=True, exist_ok=True)
        timeline = Timeline(study_dir / "workers" / f"{args.worker}.timeline")
        timeline.mark(
            "start",
            proc_start=process_start_time(),
            pid=os.getpid(),
            sid=os.getsid(0),
            threads=args.threads,
            gpu=os.environ.get("CUDA_VISIBLE_DEVICES"),
        )
        try:
            run_worker(args.storage, args.study, study_dir, args.worker, args.threads, args.since, timeline=timeline)
        finally:
            timeline.mark("exit")
    except KoptError as exc:
        print(f"kopt worker: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except RunFailed as exc:
        print(f"kopt worker: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_MAX_FAILURES) from None
    except Interrupted as exc:
        raise SystemExit(exc.exit_code) from None


if __name__ == "__main__":
    main()
