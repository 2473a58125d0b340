"""Shared test helpers: run `kopt` as a subprocess, as a user would, in a temp folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cpu_log
import fastmode
import kopt_fork
import pytest
from pg import pg_server, pg_url  # noqa: F401  (throwaway PostgreSQL fixtures)
from slurm import slurm_cluster  # noqa: F401  (throwaway SLURM cluster)

ROOT = Path(__file__).resolve().parents[1]

if fastmode.ON:
    fastmode.install()


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # once, in the process that starts the xdist workers
        compile_kopt()
        share_jax_compilations(config)


def share_jax_compilations(config) -> None:
    """One JAX compilation cache for the session's processes (the workers inherit the variables).

    Every run on JAX compiles its train and evaluation steps with XLA, and so does each fold of a
    k-fold run and each resumed run: the same programs again (the weights are arguments, not
    constants). JAX's persistent cache hands a process what another compiled, the same executable,
    so the same numbers: the JAX tests took 68 CPU s instead of 86. A cache the user set is kept."""
    import shutil
    import tempfile

    if "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    folder = tempfile.mkdtemp(prefix="kopt-test-jax-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = folder
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")  # (JAX: only those over 1 s)
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


def compile_kopt() -> None:
    """Write the bytecode of kopt's modules where Python looks for it (kopt/**/__pycache__).

    Where PYTHONDONTWRITEBYTECODE is set (this VM's and CI's image) no process ever writes it, so
    each of the suite's ~550 `kopt` processes compiled the ~120 kopt modules it imports from
    source: 0.14 CPU s of a tiny run's ~1.9, against 0.05 s from bytecode (the libraries in
    site-packages were compiled by pip). Python checks each file's timestamp, so an edited module
    is compiled again: here, at the next session, or by its importer."""
    import compileall

    compileall.compile_dir(str(ROOT / "kopt"), quiet=1)


# Set by the `real_process` marker for a test's whole protocol, its fixtures' set-up included:
# run_kopt then starts a fresh process, never a fork (for tests about kopt's start-up itself).
_real_process = False


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    global _real_process
    fastmode.begin_test(item)
    _real_process = item.get_closest_marker("real_process") is not None
    clock = cpu_log.start()  # (KOPT_TEST_CPU_LOG: where the suite's CPU goes)
    try:
        yield
    finally:
        fastmode.end_test()
        _real_process = False
        if clock:
            clock.stop(item.nodeid)


def _starts_a_service(item) -> bool:
    """A test that starts PostgreSQL or a SLURM cluster, or builds a wheel: slow without TensorFlow too."""
    uses = set(getattr(item, "fixturenames", ()))
    return item.get_closest_marker("service") is not None or bool(uses & {"pg_server", "pg_url", "slurm_cluster"})


# The session fixtures that start a service (one per worker): their tests share one xdist group, so
# one worker starts each service once (the SLURM array-job test uses both).
SERVICES = ("pg_server", "slurm_cluster")
SERVICE_GROUP = "services"


def shared_group(item) -> str | None:
    """The xdist group that keeps a test on the worker of the other tests sharing its costly set-up.

    `make test` runs `--dist loadgroup`: a test without a group is a work unit of its own, handed to
    whichever worker is free, so two tests of one module land on both workers about every time, and
    each worker then builds the module's fixture (a trained run, a study) again. Every test that uses
    a module-scoped fixture of its test module gets the group named after that module; a test that
    uses the PostgreSQL server or the SLURM cluster gets `services`. An `xdist_group` marked by hand
    wins."""
    if item.get_closest_marker("xdist_group") is not None:
        return None
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    module = None
    for name in info.names_closure:
        if name in SERVICES:
            return SERVICE_GROUP
        defs = info.name2fixturedefs.get(name) or ()
        if defs and defs[-1].scope == "module" and defs[-1].baseid.endswith(".py"):
            module = defs[-1].baseid
    return module


def _keras_runs(item) -> bool:
    """`make mutants` (KOPT_TEST_KERAS=1) runs the keras_in_process tests, listed as heavy or not."""
    return fastmode.KERAS and item.get_closest_marker(fastmode.MARKER) is not None


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the node ids, and before -k and -m
def pytest_collection_modifyitems(config, items):
    config.stash[fastmode.COLLECTED] = {item.nodeid for item in items}
    if fastmode.ON:
        heavy = set() if fastmode.RECORD else set(fastmode.listed())
        kept = [
            item for item in items if not _starts_a_service(item) and (item.nodeid not in heavy or _keras_runs(item))
        ]
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept
    for item in items:
        group = shared_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(tryfirst=True)  # before xdist's worker sends the collected node ids
def pytest_collection_finish(session):
    """Give each grouped test the `@group` node id suffix that `--dist loadgroup` schedules by.

    xdist 3.8 writes the suffix into `item._nodeid`, which pytest 9.2 no longer reads (its node id
    is the structured `item._id`): every `xdist_group` was then silently ignored
    (pytest-dev/pytest-xdist#1386). Where the suffix is already there (an xdist that sets it), this
    changes nothing.

    Then freeze what collection loaded (TensorFlow, Keras: ~540k objects), as kopt.runtime.import_tensorflow
    does in a `kopt` process once TensorFlow is imported: test modules import TensorFlow while they are
    collected, so kopt's own freeze never ran here, and each full collection of the tests that train in
    this process (clear_session() after each fold and trial) walked all of them again (~0.2 s each)."""
    import gc

    gc.freeze()
    if not getattr(session.config.option, "loadgroup", False):
        return
    for item in session.items:
        names = sorted(
            {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
        )
        if not names:
            continue
        suffix = "@" + "_".join(names)
        if not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
            item._id = type(item._id).parse(item.nodeid + suffix)


_fast_outcomes = fastmode.Recorder()


def pytest_runtest_logreport(report):
    if fastmode.ON:
        _fast_outcomes.report(report)


def pytest_terminal_summary(terminalreporter, config):
    if fastmode.ON and not hasattr(config, "workerinput"):
        for line in _fast_outcomes.summary(fastmode.listed()):
            terminalreporter.write_line(line)


# A run that takes a few seconds: tiny synthetic data, tiny model, two epochs.
TINY_DATA = ["dataset=synthetic", "dataset.size=200", "trainer.epochs=2", "trainer.batch_size=32"]
TINY = [*TINY_DATA, "model=mlp", "model.width=16", "model.depth=1"]


def wait_for(predicate, timeout: float, what: str, poll: float = 0.1):
    """The first true value of ``predicate()``, polled until ``timeout`` seconds; else the test fails."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    pytest.fail(f"timed out waiting for {what}")


def kopt_env(extra: dict | None = None) -> dict:
    """The environment of a test's kopt: this one, kopt on PYTHONPATH, quiet TensorFlow; ``extra`` on top."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["COLUMNS"] = "200"
    env.pop("HYDRA_FULL_ERROR", None)
    for key, value in (extra or {}).items():  # None removes a key, as a user's shell without it
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_kopt(
    *args: str,
    cwd: Path,
    env: dict | None = None,
    timeout: int = 600,
    run_time_keys: tuple[str, ...] = (),
    umask: int | None = None,
) -> subprocess.CompletedProcess:
    """`kopt ARGS` in `cwd` (runs/ lands there); returns the finished process (text output).

    The process is forked from a server that already imported TensorFlow and Keras on the run's
    backend (tests/forkserver.py says when, and why that is still a process of its own;
    tests/kopt_fork.py which server), or started fresh where only that would do. ``run_time_keys``:
    keys of ``env`` that Keras reads at import but this command only at run time (KERAS_HOME for a
    command that never reaches Keras' own cache): a fork may change them. ``umask``: the process's,
    where it is not this one's.
    """
    return run_python("-m", "kopt", *args, cwd=cwd, env=env, timeout=timeout, run_time_keys=run_time_keys, umask=umask)


def run_python(
    *python: str,
    cwd: Path,
    env: dict | None = None,
    timeout: int = 600,
    run_time_keys: tuple[str, ...] = (),
    umask: int | None = None,
) -> subprocess.CompletedProcess:
    """`python PYTHON` (``-m MODULE ARGS``, ``-c CODE ARGS`` or ``SCRIPT ARGS``) in ``cwd``, with
    kopt_env(env), stdin /dev/null and its output captured: forked as run_kopt's kopt is (the server
    of the Keras backend that ARGS and env choose), or fresh where only that would do. ``umask``: the
    process's, where it is not this one's."""
    full_env = kopt_env(env)
    if not (_real_process or fastmode.ON):
        done = kopt_fork.run(
            list(python), cwd, full_env, timeout, server_env=kopt_env(), run_time_keys=run_time_keys, umask=umask
        )
        if done is not None:
            return done
    return subprocess.run(
        [sys.executable, *python],
        cwd=cwd,
        env=full_env,
        text=True,
        capture_output=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),
    )


def start_kopt(*args: str, cwd: Path, env: dict | None = None, merge_stderr: bool = False):
    """`kopt ARGS` started, not waited for: a subprocess.Popen (text, stdout and stderr piped, stdin
    /dev/null; ``merge_stderr``: stderr into stdout), or the fork that behaves as one
    (tests/kopt_fork.py's Forked: pid, poll, wait, communicate, send_signal, kill) where run_kopt
    would fork it. Several may run at once."""
    full_env = kopt_env(env)
    if not (_real_process or fastmode.ON):
        child = kopt_fork.start(["-m", "kopt", *args], cwd, full_env, server_env=kopt_env(), merge_stderr=merge_stderr)
        if child is not None:
            return child
    return start_fresh_kopt(*args, cwd=cwd, env=env, merge_stderr=merge_stderr)


def start_fresh_kopt(
    *args: str, cwd: Path, env: dict | None = None, merge_stderr: bool = False, **popen
) -> subprocess.Popen:
    """`kopt ARGS` in a fresh Python, never forked, as start_kopt's Popen (for a test about kopt's own
    start-up: a signal while TensorFlow loads, its start-up lines, a tune as slow to start as the
    workers beside it). ``env`` as run_kopt's; ``popen``: more of Popen's arguments (start_new_session,
    preexec_fn)."""
    return subprocess.Popen(
        [sys.executable, "-m", "kopt", *args],
        cwd=cwd,
        env=kopt_env(env),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        **popen,
    )


def as_from_a_terminal() -> None:
    """A child's Ctrl-C as a shell gives it (a Popen's preexec_fn): delivered and not ignored. A child
    inherits its parent thread's signal mask and ignored signals, and the test process's may differ by
    then (in the full suite a kopt once got no SIGINT at all and trained to the end with exit 0, twice
    in a row, while the test passed alone): the test is about kopt, not the state pytest's worker is in."""
    import signal

    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def only_run_dir(cwd: Path, kind: str = "train") -> Path:
    dirs = sorted((cwd / "runs" / kind).iterdir())
    assert len(dirs) == 1, dirs
    return dirs[0]


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def assert_clean_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """Non-zero exit, one `kopt: error:` line naming what is wrong, and no traceback."""
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "Traceback" not in out, out
    errors = [line for line in proc.stderr.splitlines() if line.startswith("kopt: error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
