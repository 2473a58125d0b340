"""A preloader for the tests' `kopt` processes: TensorFlow, Keras and the heavy libraries imported once.

Most of a tiny `kopt train` is the import of TensorFlow and Keras (about 7 of its 10 CPU seconds on
2 cores). The test suite starts `kopt` some hundreds of times, so :func:`tests.conftest.run_kopt` asks
this server, one per pytest worker, to fork a child that already holds those modules. The child is
still a process of its own, as a user's `kopt` would be: its own working directory, environment,
stdin (/dev/null), stdout and stderr (files the test reads), exit code and process group, and
`python -m kopt` runs in it from the start (kopt's own modules are never preloaded, so whatever
they read at import comes from the child's environment). Rails' Spring and pytest-xdist's
`--forked` rest on the same fork.

What a fork cannot give is a fresh import of TensorFlow: a different Keras backend, `KERAS_HOME`,
or any other variable read at import. (`PYTHONPATH` with folders put before the server's is the one
exception: where those folders hold no module the server has imported, nor a ``sitecustomize``, the
child puts them first on ``sys.path`` as a fresh Python would, and imports from them what it imports
after the fork; the server's ``ready`` line is followed by the names of the modules it holds.) Keras loads its backend at its import, so there
is one server per backend, each started with its own ``KERAS_BACKEND`` (tests/kopt_fork.py sends a
request to the server of the backend the child would choose). The client forks only when the
request's environment differs from the server's in keys read at run time (:data:`RUNTIME_KEYS`;
``KERAS_BACKEND`` through the choice of server), and runs a real subprocess otherwise, as it does
for tests marked ``real_process`` (those about TensorFlow's start-up itself) and when
``KOPT_TEST_FORK=0``.

Protocol, one connection per run: the client sends one JSON line (argv, cwd, env, stdout and
stderr paths; ``python``, the interpreter's arguments where the child runs another command than
``-m kopt ARGV``: ``-c CODE``, a script; ``umask``, where the child's is not the server's;
``path_first``, PYTHONPATH's folders before the server's); the server answers the child's pid, then, once the child
has exited, its return code as :func:`subprocess.run` reports it (negative for a signal). Runs may
overlap: each has its connection.
"""

from __future__ import annotations

import atexit
import builtins
import gc
import importlib
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import threading
import traceback
import types

# Read at run time, never at import by TensorFlow, Keras or the preloaded libraries: a request may change them.
# (KMP_*: set by the import of TensorFlow itself, in the server as in a test process that imported it.)
# ABSL_MIN_LOG_LEVEL, GRPC_VERBOSITY: log levels only, which kopt.runtime.quiet_tensorflow sets (setdefault) in a test
# process that called it, and in every kopt before its own import of TensorFlow.
RUNTIME_KEYS = (
    "COLUMNS",
    "LINES",
    "NO_COLOR",
    "FORCE_COLOR",
    "COMP_LINE",
    "COMP_POINT",
    "PATH",
    "TF_CONFIG",
    "ABSL_MIN_LOG_LEVEL",
    "GRPC_VERBOSITY",
)
LEVEL_KEYS = ("TF_CPP_MIN_LOG_LEVEL",)
RUNTIME_PREFIXES = ("KOPT_", "MLFLOW_", "SLURM_", "PYTEST_", "KMP_")


def forkable(server_env: dict, env: dict) -> bool:
    """Whether a child forked from a server started with ``server_env`` behaves as a fresh process in ``env``."""
    return not changed(server_env, env)


def changed(server_env: dict, env: dict) -> set[str]:
    """The keys that differ and that TensorFlow, Keras or a preloaded library might read at import."""
    keys = {k for k in server_env.keys() | env.keys() if server_env.get(k) != env.get(k)}
    # TensorFlow's import sets TF_CPP_MIN_LOG_LEVEL=1 in a test process that imported it: another level is only
    # a log level, but a test that removes the variable is about TensorFlow's start-up lines, which need a fresh import.
    keys -= {k for k in LEVEL_KEYS if k in server_env and k in env}
    return {k for k in keys if not (k in RUNTIME_KEYS or k.startswith(RUNTIME_PREFIXES))}


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _main(python: list[str], path_first: list[str]) -> None:
    """What `python PYTHON` runs, in this process: ``-m MODULE ARGS``, ``-c CODE ARGS`` or ``SCRIPT ARGS``;
    ``path_first``: PYTHONPATH's folders before the server's, next on sys.path after the first entry."""
    sys.path[1:1] = [os.path.abspath(p) for p in path_first]
    if python[0] == "-m":
        sys.path[0] = os.getcwd()  # as `python -m` puts the working directory first
        sys.argv = ["-m", *python[2:]]
        runpy.run_module(python[1], run_name="__main__", alter_sys=True)
    elif python[0] == "-c":
        sys.path[0] = ""
        sys.argv = ["-c", *python[2:]]
        main = types.ModuleType("__main__")
        main.__builtins__ = builtins
        sys.modules["__main__"] = main
        exec(compile(python[1], "<string>", "exec"), main.__dict__)
    else:
        sys.path[0] = os.path.dirname(os.path.abspath(python[0]))
        sys.argv = list(python)
        runpy.run_path(python[0], run_name="__main__")


def _child(request: dict) -> None:
    """Become `python -m kopt ARGS` (or the request's ``python`` command line) in the request's
    folder and environment; never returns."""
    code = 1
    try:
        os.setpgid(0, 0)  # a timeout kills the child and whatever it started, as one group
        os.chdir(request["cwd"])
        if "umask" in request:  # (a process attribute, never read at import: as a subprocess's preexec_fn sets it)
            os.umask(request["umask"])
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, path, flags in (
            (0, os.devnull, os.O_RDONLY),
            (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        ):
            if fd == 2 and path == request["stdout"]:  # stderr into stdout (2>&1): one file, one offset
                os.dup2(1, 2)
                continue
            opened = os.open(path, flags, 0o600)
            os.dup2(opened, fd)
            os.close(opened)
        try:
            _main(request.get("python") or ["-m", "kopt", *request["argv"]], request.get("path_first", []))
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc)
        except KeyboardInterrupt:
            sys.excepthook(*sys.exc_info())
            code = -signal.SIGINT
        except BaseException:
            sys.excepthook(*sys.exc_info())
            code = 1
        # What the interpreter does on exit: wait for non-daemon threads, then the atexit handlers.
        threading._shutdown()
        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        if code < 0:  # died of a signal, as Python does on an unhandled Ctrl-C
            signal.signal(-code, signal.SIG_DFL)
            os.kill(os.getpid(), -code)
        os._exit(code)


def _preload() -> None:
    """The heavy imports of a `kopt` run, Keras on the backend in KERAS_BACKEND (the JAX server's:
    jax too). No JAX computation: its runtime starts threads, which a fork does not copy."""
    if os.environ.get("KERAS_BACKEND") == "jax":
        import jax
        import jax.numpy  # noqa: F401
    import hydra  # noqa: F401
    import keras  # noqa: F401
    import matplotlib  # noqa: F401
    import numpy  # noqa: F401
    import omegaconf  # noqa: F401
    import optuna  # noqa: F401
    import pandas  # noqa: F401
    import scipy.stats  # noqa: F401
    import sklearn.model_selection  # noqa: F401
    import tensorflow  # noqa: F401

    for name in LATE_IMPORTS:
        try:
            importlib.import_module(name)
        except Exception:  # (an optional piece this venv lacks: the child imports it, or says it is missing)
            pass
    # What kopt.runtime.import_tensorflow does once it has imported TensorFlow in a fresh process: its
    # ~470k objects out of the collector's way (a child inherits them frozen). A fork finds TensorFlow
    # imported already and would not freeze, so every clear_session() between folds and trials ran a
    # full collection over them (~0.2 s each): 0.6 CPU s more for a 5-fold run than as a user runs it.
    gc.freeze()


# What a `kopt train` imports only when it gets there (tf.summary's TensorBoard writers, Hydra's core
# plugins and launchers, the Agg canvas, PIL's image plugins...): 142 modules, 0.04-0.05 of its ~1.5 CPU
# seconds on the 2-core VM. Libraries only, never kopt's own modules; test_forkserver.py's
# test_a_forked_train_imports_no_library_the_server_could_have_preloaded lists any that is missing here.
LATE_IMPORTS = (
    "antlr4.LL1Analyzer",
    "google.protobuf.struct_pb2",
    "hydra._internal.core_plugins.bash_completion",
    "hydra._internal.core_plugins.basic_launcher",
    "hydra._internal.core_plugins.basic_sweeper",
    "hydra._internal.core_plugins.file_config_source",
    "hydra._internal.core_plugins.fish_completion",
    "hydra._internal.core_plugins.importlib_resources_config_source",
    "hydra._internal.core_plugins.structured_config_source",
    "hydra._internal.core_plugins.zsh_completion",
    "hydra._internal.logging_config",
    "hydra.experimental.callback",
    "hydra.experimental.compose",
    "hydra.experimental.initialize",
    "hydra_plugins.hydra_joblib_launcher.config",
    "hydra_plugins.hydra_joblib_launcher.joblib_launcher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher",
    "matplotlib.backends.backend_agg",
    "omegaconf._impl",
    "PIL.BmpImagePlugin",
    "PIL.features",
    "PIL.GifImagePlugin",
    "PIL.JpegImagePlugin",
    "PIL.PpmImagePlugin",
    "rich._emoji_codes",
    "tensorboard.plugins.hparams.api",
    "tensorboard.summary",
    "tensorflow.python.data.ops.cache_op",
    "tensorflow.python.data.ops.flat_map_op",
    "tensorflow.python.data.ops.range_op",
    "tensorflow.python.data.ops.skip_op",
    "tensorflow.summary",
)


PARENT_POLL_S = 2.0


def serve(path: str) -> None:
    """Fork a child per connection; several may run at once (the two workers of one tf.distribute
    cluster), each connection answered its child's pid, then its exit code once the child ends."""
    parent = os.getppid()  # (before "ready": the starter may be killed the moment it reads it)
    _preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    import keras

    print("ready", keras.backend.backend(), flush=True)  # the backend its Keras loaded on
    print(json.dumps(sorted({name.partition(".")[0] for name in sys.modules})), flush=True)  # what it holds
    children = selectors.DefaultSelector()  # a pidfd per running child: readable once it has ended
    request_of: dict[int, dict] = {}
    children.register(listener, selectors.EVENT_READ)
    while True:
        # a pytest worker killed outright (SIGKILL, a timeout) never runs its atexit that stops this server:
        # it ends once its parent has gone, rather than stay idle holding ~1 GB
        if os.getppid() != parent:
            os._exit(0)
        for key, _ in children.select(timeout=PARENT_POLL_S):
            if key.fileobj is listener:
                conn, _ = listener.accept()
                stream = conn.makefile("rwb")
                request = json.loads(stream.readline())
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    for other in list(children.get_map().values()):  # the other runs' connections and pidfds
                        for obj in (*(other.data or ())[:0:-1], other.fileobj):
                            _close(obj)
                    children.close()
                    _close(stream)
                    _close(conn)
                    _child(request)
                try:
                    stream.write(f"{pid}\n".encode())
                    stream.flush()
                except OSError:
                    pass
                request_of[pid] = request
                children.register(os.pidfd_open(pid), selectors.EVENT_READ, (pid, conn, stream))
            else:
                pid, conn, stream = key.data
                children.unregister(key.fileobj)
                os.close(key.fileobj)
                _, status, usage = os.wait4(pid, 0)
                _log_cpu(request_of.pop(pid), usage)
                try:
                    stream.write(f"{os.waitstatus_to_exitcode(status)}\n".encode())
                    stream.flush()
                except OSError:  # the client gave up (its test failed or timed out)
                    pass
                stream.close()
                conn.close()


def _log_cpu(request: dict, usage) -> None:
    """KOPT_TEST_CPU_LOG (in the request's environment): the child's CPU, with the test that asked for it."""
    path = request["env"].get("KOPT_TEST_CPU_LOG")
    if not path:
        return
    import cpu_log  # (beside this file, on sys.path as the script's folder)

    argv = " ".join(request.get("python") or ["-m", "kopt", *request["argv"]])
    test = request["env"].get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    try:
        cpu_log.append(
            path,
            {"kind": "forked", "test": test, "forked_s": round(usage.ru_utime + usage.ru_stime, 3), "argv": argv[:300]},
        )
    except OSError:  # (a log that cannot be written is no reason to lose the child's exit code)
        pass


def _close(obj) -> None:
    try:
        obj.close() if hasattr(obj, "close") else os.close(obj)
    except OSError:
        pass


if __name__ == "__main__":
    serve(sys.argv[1])
