"""tests/forkserver.py: a `kopt` forked from the preloaded server behaves as a fresh `python -m kopt`."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import kopt_fork
import pytest
from conftest import TINY, assert_clean_error, kopt_env, only_run_dir, read_summary, run_kopt, run_python
from forkserver import changed, forkable

PROBE = """
import json, os, sys
with open("probe.json", "w") as f:
    json.dump({"env": os.environ.get("KOPT_PROBE"), "cwd": os.getcwd(), "path0": sys.path[0],
               "stdin": sys.stdin.read()}, f)
raise SystemExit(7)
"""


def test_a_fork_gets_its_own_folder_environment_stdin_and_exit_code(tmp_path):
    """The module `kopt` imports from the working folder sees the request's cwd, sys.path and env."""
    (tmp_path / "probe.py").write_text(PROBE)
    forked = kopt_fork.server(kopt_env()).run(
        ["train", "model=custom", "model._target_=probe.build"], tmp_path, kopt_env({"KOPT_PROBE": "x"}), 300
    )
    assert forked is not None, "the server did not fork a request that differs only in a KOPT_ variable"
    seen = json.loads((tmp_path / "probe.json").read_text())
    assert seen == {"env": "x", "cwd": str(tmp_path), "path0": str(tmp_path), "stdin": ""}
    fresh = subprocess.run(
        [sys.executable, "-m", "kopt", "train", "model=custom", "model._target_=probe.build"],
        cwd=tmp_path,
        env=kopt_env({"KOPT_PROBE": "x"}),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert (forked.returncode, forked.stdout) == (fresh.returncode, fresh.stdout)
    assert forked.stderr == fresh.stderr


def test_a_fork_has_the_umask_asked_for_and_else_this_processs(tmp_path):
    """run_python(umask=...) forks as a subprocess's ``preexec_fn=lambda: os.umask(...)`` starts."""
    code = ["-c", "import os; print(oct(os.umask(0)))"]
    mine = os.umask(0)
    os.umask(mine)
    server = kopt_fork.server(kopt_env())
    asked = server.run([], tmp_path, kopt_env(), 60, python=code, umask=0o027)
    inherited = server.run([], tmp_path, kopt_env(), 60, python=code)
    assert asked is not None and inherited is not None, "not forked"
    assert asked.stdout.split() == ["0o27"], asked.stderr
    assert inherited.stdout.split() == [oct(mine)], inherited.stderr


def test_a_clean_error_reads_the_same_forked_or_fresh(tmp_path):
    forked = run_kopt("train", "trainer.epochs=0", cwd=tmp_path)
    assert_clean_error(forked, "trainer.epochs")
    fresh = subprocess.run(
        [sys.executable, "-m", "kopt", "train", "trainer.epochs=0"],
        cwd=tmp_path,
        env=kopt_env(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)


def test_a_timeout_kills_the_fork_and_raises_as_subprocess_run_does(tmp_path):
    with pytest.raises(subprocess.TimeoutExpired):
        run_kopt("train", "trainer.epochs=500", cwd=tmp_path, timeout=1)
    assert run_kopt("--version", cwd=tmp_path).returncode == 0  # the server serves on


def test_only_variables_read_at_run_time_may_differ():
    base = {"PATH": "/bin", "TF_CPP_MIN_LOG_LEVEL": "3"}
    assert forkable(base, {**base, "KOPT_X": "1", "COLUMNS": "80", "PYTEST_CURRENT_TEST": "t"})
    for key, value in (("KERAS_BACKEND", "jax"), ("KERAS_HOME", "/k"), ("PYTHONPATH", "/p")):
        assert changed(base, {**base, key: value}) == {key}
    assert changed(base, {"PATH": "/bin"}) == {"TF_CPP_MIN_LOG_LEVEL"}  # removed counts (start-up lines shown)
    assert forkable(base, {**base, "TF_CPP_MIN_LOG_LEVEL": "1"})  # another level: as TensorFlow's import sets it


SYS_PATH = "import json, sys, zz_mine; print(json.dumps([sys.path, zz_mine.__file__]))"


def test_pythonpath_folders_before_the_servers_are_forked_with_the_sys_path_a_fresh_python_has(tmp_path):
    """A folder put first on PYTHONPATH (a plugin's site, your modules) is first on the child's sys.path,
    as in a fresh Python; one that holds a module the server imported, or a sitecustomize (which a
    fresh Python runs at start-up), is left to a fresh process."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "zz_mine.py").write_text("")
    env = kopt_env({"PYTHONPATH": os.pathsep.join([str(mine), kopt_env()["PYTHONPATH"]])})
    server = kopt_fork.server(kopt_env())
    forked = server.run([], tmp_path, env, 60, python=["-c", SYS_PATH])
    assert forked is not None, "not forked"
    fresh = subprocess.run([sys.executable, "-c", SYS_PATH], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert forked.returncode == fresh.returncode == 0, forked.stderr + fresh.stderr
    (path, module), (fresh_path, fresh_module) = json.loads(forked.stdout), json.loads(fresh.stdout)
    assert path[:2] == fresh_path[:2] == ["", str(mine)] and module == fresh_module == str(mine / "zz_mine.py")

    # (PYTHONPATH's empty entry, kopt_env's trailing ":", is the working folder at start-up: the child's in a
    # fresh Python, the server's in a fork, both after the first entry, which is the working folder itself)
    def rest(entries):
        return [p for p in entries[1:] if p not in (str(tmp_path), os.getcwd())]

    assert rest(path) == rest(fresh_path)
    for shadow in ("json.py", "sitecustomize.py"):
        (mine / shadow).write_text("")
        assert server.run([], tmp_path, env, 60, python=["-c", SYS_PATH]) is None, shadow
        (mine / shadow).unlink()
    after = os.pathsep.join([kopt_env()["PYTHONPATH"], str(mine)])  # after the server's: a fresh process
    assert server.run([], tmp_path, kopt_env({"PYTHONPATH": after}), 60, python=["-c", SYS_PATH]) is None


def test_a_run_on_another_keras_backend_is_not_forked_from_this_server(tmp_path):
    """The server's Keras runs on TensorFlow: a fork asked for JAX would be refused by kopt.backend."""
    server = kopt_fork.server(kopt_env())
    assert server.run(["train", "trainer.backend=jax", "--cfg", "job"], tmp_path, kopt_env(), 300) is None
    assert server.run(["train", "--cfg", "job"], tmp_path, kopt_env({"KERAS_BACKEND": "jax"}), 300) is None
    assert server.run(["train", "trainer.backend=tensorflow", "--cfg", "job"], tmp_path, kopt_env(), 300) is not None


def fake_run(cwd, name: str, named: str, recorded: str | None) -> None:
    """A run dir as `train resume=` reads it: trainer.backend in its config, the backend its summary recorded."""
    run = cwd / "runs" / "train" / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(f"trainer:\n  backend: {named}\n")
    (run / "summary.json").write_text(json.dumps({"status": "interrupted", "versions": {"backend": recorded}}))


def test_each_run_is_routed_to_the_backend_it_would_load_keras_on(tmp_path):
    """kopt chooses the backend before Keras loads (kopt.backend): from trainer.backend, else KERAS_BACKEND;
    a resumed run keeps its own. The route must read them the same way."""
    jax_env, tf_env = {"KERAS_BACKEND": "jax"}, {"KERAS_BACKEND": "tensorflow"}
    for argv, env, backend in (
        (["train", "trainer.backend=jax"], {}, "jax"),
        (["train", "++trainer.backend=jax", "trainer.epochs=1"], tf_env, "jax"),
        (["train"], jax_env, "jax"),
        (["train", "trainer.backend=auto"], jax_env, "jax"),
        (["train"], {}, "tensorflow"),
        (["train", "trainer.backend=tensorflow"], jax_env, "tensorflow"),
        (["train", "trainer.backend=jax", "trainer.backend=tensorflow"], {}, "tensorflow"),  # the last one counts
        (["train", "-m", "trainer.backend=jax,tensorflow"], {}, None),  # the jobs of one process
        (["train", "-m", "trainer.backend=jax", "seed=0,1"], {}, "jax"),
        (["tune", "trainer.backend=jax", "search.trainer.backend=choice(jax)"], {}, "jax"),
        (["tune", "trainer.backend=jax", "search.trainer.backend=choice(jax,tensorflow)"], {}, None),
        (["tune", "search.trainer.backend=jax"], {}, None),  # the base is TensorFlow's
        (["tune", "search.trainer.backend=choice(jax)"], jax_env, "jax"),
        # refused by kopt.backend.check before Keras loads: the same line on any server
        (["train", "trainer.backend=theano"], {}, "tensorflow"),
        (["train"], {"KERAS_BACKEND": "mxnet"}, "tensorflow"),
    ):
        assert kopt_fork.keras_backend(argv, tmp_path, env) == backend, (argv, env)
    fake_run(tmp_path, "tf", "auto", "tensorflow")
    assert kopt_fork.keras_backend(["train", "resume=last"], tmp_path, jax_env) == "tensorflow"  # as trained
    assert kopt_fork.keras_backend(["train", "resume=runs/train/tf"], tmp_path, jax_env) == "tensorflow"
    fake_run(tmp_path, "jax", "auto", "jax")
    assert kopt_fork.keras_backend(["train", f"resume={tmp_path}/runs/train/jax"], tmp_path, {}) == "jax"
    assert kopt_fork.keras_backend(["train", "resume=last"], tmp_path, jax_env) is None  # which is last: kopt's
    assert kopt_fork.keras_backend(["train", "resume=last"], tmp_path, {}) == "tensorflow"  # (as before)
    fake_run(tmp_path, "named", "jax", None)
    assert kopt_fork.keras_backend(["train", "resume=runs/train/named"], tmp_path, tf_env) == "jax"
    fake_run(tmp_path, "unstarted", "auto", None)
    assert kopt_fork.keras_backend(["train", "resume=runs/train/unstarted"], tmp_path, jax_env) == "jax"


@pytest.mark.xdist_group("jax")  # on the worker of test_backends, whose JAX server it starts or uses
def test_a_run_on_jax_is_forked_from_the_jax_server_and_trains_on_jax(tmp_path, monkeypatch):
    """The second server's Keras loaded on JAX (KERAS_BACKEND=jax in its environment); a TensorFlow
    run never lands there, and KERAS_BACKEND=jax (trainer.backend=auto) is routed to it."""
    if importlib.util.find_spec("jax") is None:  # (here, not at the import: test-fast imports this module)
        pytest.skip("JAX is not installed (pip install '.[jax]')")
    server = kopt_fork.server(kopt_env(), "jax")
    assert server.ready and server.env["KERAS_BACKEND"] == "jax"
    assert server.run(["train", "trainer.backend=tensorflow", "--cfg", "job"], tmp_path, kopt_env(), 300) is None
    assert server.run(["train", "--cfg", "job"], tmp_path, kopt_env(), 300) is None
    log = tmp_path / "fork.log"
    monkeypatch.setenv("KOPT_TEST_FORK_LOG", str(log))
    proc = run_kopt("train", *TINY, "trainer.epochs=1", cwd=tmp_path, env={"KERAS_BACKEND": "jax"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [line.split("\t")[0] for line in log.read_text().splitlines()] == ["forked"]
    assert "backend=jax" in proc.stdout.splitlines()[0]
    assert read_summary(only_run_dir(tmp_path))["versions"]["backend"] == "jax"


def test_a_variable_a_test_removes_stays_removed_and_its_run_is_not_forked(tmp_path, monkeypatch):
    """The start-up lines test unsets TF_CPP_MIN_LOG_LEVEL; popped from kopt_env() it came back from
    run_kopt's own kopt_env(), at 1 in a test process that had imported TensorFlow, and was forked."""
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")  # as TensorFlow's import leaves it in this process
    env = kopt_env({"TF_CPP_MIN_LOG_LEVEL": None})
    assert "TF_CPP_MIN_LOG_LEVEL" not in env
    assert kopt_fork.server(kopt_env()).run(["--version"], tmp_path, env, 60) is None


# Each child waits for the other's file: only two children running at once both end.
RENDEZVOUS = """
import os, sys, time
mine, other = sys.argv[1], sys.argv[2]
open(mine, "w").close()
while not os.path.exists(other):
    time.sleep(0.05)
print(__name__, sys.argv, repr(sys.path[0]))
"""


def test_forks_run_at_once_and_are_held_as_a_popen_holds_its_process(tmp_path):
    """The two workers of a tf.distribute cluster run at once (start_kopt); a `python -c` or a script
    runs as `python` runs it (run_python)."""
    server = kopt_fork.server(kopt_env())
    first = server.start([], tmp_path, kopt_env(), ["-c", RENDEZVOUS, "a", "b"])
    assert first is not None and first.poll() is None and first.returncode is None  # waits for the second
    second = server.start([], tmp_path, kopt_env(), ["-c", RENDEZVOUS, "b", "a"])
    assert first.communicate(timeout=60) == ("__main__ ['-c', 'a', 'b'] ''\n", "") and first.returncode == 0
    assert second.wait(timeout=60) == 0 and second.poll() == 0
    fresh = subprocess.run(
        [sys.executable, "-c", RENDEZVOUS, "b", "a"], cwd=tmp_path, env=kopt_env(), capture_output=True, text=True
    )
    assert second.communicate() == (fresh.stdout, fresh.stderr)
    (tmp_path / "script.py").write_text(RENDEZVOUS)
    done = server.run([], tmp_path, kopt_env(), 60, [str(tmp_path / "script.py"), "a", "b"])
    assert done.stdout == f"__main__ {[str(tmp_path / 'script.py'), 'a', 'b']} {str(tmp_path)!r}\n"
    sleeper = server.start([], tmp_path, kopt_env(), ["-c", "import time; time.sleep(120)"])
    with pytest.raises(subprocess.TimeoutExpired):
        sleeper.wait(timeout=0.5)
    sleeper.send_signal(signal.SIGTERM)
    assert sleeper.wait(timeout=30) == -signal.SIGTERM  # as subprocess.Popen reports a signal


def test_the_server_ends_when_the_process_that_started_it_is_killed(tmp_path):
    """A pytest worker killed outright never runs the atexit that stops its server (12 idle servers of
    killed runs, ~1 GB each, were found once)."""
    import os
    import time

    # (the starter's own environment is kopt_env(): importing conftest there would arm test-fast's guards
    # for the starter itself, which then took the server's signal in place of this test)
    code = (
        "import os, sys; sys.path.insert(0, sys.argv[1]); import kopt_fork; "
        "s = kopt_fork.server(dict(os.environ)); print(s.proc.pid, s.ready, flush=True); "
        "import time; time.sleep(600)"
    )
    starter = subprocess.Popen(
        [sys.executable, "-c", code, str(Path(__file__).parent)], stdout=subprocess.PIPE, text=True, env=kopt_env()
    )
    pid, ready = starter.stdout.readline().split()
    assert ready == "True"
    os.kill(starter.pid, signal.SIGKILL)
    starter.wait()
    deadline = time.monotonic() + 60
    while Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
        assert time.monotonic() < deadline, "the server outlived the process that started it"
        time.sleep(0.2)


def test_every_kopt_module_has_current_bytecode_before_the_runs_start():
    """conftest.compile_kopt: a `kopt` process reads kopt's modules from bytecode, not source, even
    where PYTHONDONTWRITEBYTECODE keeps every process from writing it."""
    import kopt

    root = Path(kopt.__file__).parent
    stale = []
    for source in sorted(root.rglob("*.py")):
        pyc = Path(importlib.util.cache_from_source(str(source)))
        header = pyc.read_bytes()[:16] if pyc.is_file() else b""
        # a timestamp pyc: magic, flags 0, then the source's mtime and size it was compiled from
        current = (
            header[:4] == importlib.util.MAGIC_NUMBER
            and int.from_bytes(header[8:12], "little") == int(source.stat().st_mtime) & 0xFFFFFFFF
            and int.from_bytes(header[12:16], "little") == source.stat().st_size & 0xFFFFFFFF
        )
        if not current:
            stale.append(str(source.relative_to(root)))
    assert not stale, f"compiled from source by every kopt process: {stale[:5]}"


LATE = """
import atexit, runpy, sys
before = set(sys.modules)
OWN = ("kopt", "__main__", "hydra_plugins.kopt_launcher")  # kopt's own modules, never preloaded
def report():
    with open("late.txt", "w") as f:
        f.write("\\n".join(sorted(m for m in set(sys.modules) - before if not m.startswith(OWN))))
atexit.register(report)  # (a finished `kopt train` ends without Python's teardown, but after the exit handlers)
sys.argv = ["kopt", *sys.argv[1:]]
runpy.run_module("kopt", run_name="__main__")
"""


def test_a_forked_train_imports_no_library_the_server_could_have_preloaded(tmp_path):
    """forkserver.LATE_IMPORTS: what a tiny `kopt train` imports once it runs is imported by the server
    already, so that no forked run pays for it again."""
    proc = run_python("-c", LATE, "train", *TINY, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert kopt_fork.ENABLED  # (make test forks; KOPT_TEST_FORK=0 would start it fresh)
    late = (tmp_path / "late.txt").read_text().split()
    assert late == [], f"add to tests/forkserver.py's LATE_IMPORTS: {late[:10]} ({len(late)} modules)"


def test_a_forked_kopt_has_tensorflows_objects_frozen_as_a_fresh_one_has(tmp_path):
    """kopt.runtime.import_tensorflow freezes the objects of TensorFlow's import (gc.freeze) in a fresh
    process; the server does it for its forks, which find TensorFlow imported already."""
    code = (
        "import gc, sys; from kopt.runtime import import_tensorflow; import_tensorflow(); print(gc.get_freeze_count())"
    )
    forked = run_python("-c", code, cwd=tmp_path)
    fresh = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=kopt_env(), capture_output=True, text=True, timeout=300
    )
    assert forked.returncode == fresh.returncode == 0, forked.stderr + fresh.stderr
    frozen, expected = int(forked.stdout.split()[-1]), int(fresh.stdout.split()[-1])
    assert expected > 100_000 and frozen > 0.9 * expected, (frozen, expected)


def test_this_test_process_has_what_collection_loaded_frozen():
    """conftest's pytest_collection_finish: TensorFlow, imported while the test modules were collected,
    is frozen here as kopt.runtime.import_tensorflow freezes it in a `kopt` process (gc.freeze)."""
    import gc

    assert gc.get_freeze_count() > 0  # (nothing else freezes in a test process: 0 without it)
