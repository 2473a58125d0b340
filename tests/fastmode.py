"""`make test-fast` (``KOPT_TEST_FAST=1``): the edit loop's tier, every test that trains nothing
and imports no TensorFlow, found as the tests run rather than marked by hand.

- In the test's own process, importing TensorFlow, Keras, JAX or torch skips the test (or the
  test module, at collection).
- A Python subprocess that the test starts loads ``tests/fastguard/sitecustomize.py``: on the
  same imports it signals this process (SIGUSR1), whose handler skips the running test, and
  exits at once. So a test that trains through ``kopt train`` costs a second, not a training.
- Tests that start a service (PostgreSQL, a SLURM cluster) or build a wheel are slow without
  TensorFlow; they carry ``@pytest.mark.service`` and are deselected.
- ``tests/heavy_tests.txt`` remembers the tests that the guard skipped last time: they are
  deselected up front, which saves each one's set-up and its ``kopt`` start-up up to the import.
  It is a cache, not a marking: a test missing from it runs and is skipped at the import as
  above (the run's last lines name it), ``make heavy-tests`` rewrites it (``KOPT_FAST_RECORD=1``:
  nothing deselected, every guard skip recorded, every listed test that ran without TensorFlow
  dropped), and tests/test_fastmode.py fails on an entry that names no test.

A new test needs no marking: it joins the fast tier exactly when it imports no TensorFlow.

``make mutants`` (tests/mutants_report.py) adds ``KOPT_TEST_KERAS=1``: the tests marked
``keras_in_process`` (a small Keras model built in the test's own process, no training run) run
too. Keras is imported once, when the guards are installed and without running an op, so that
mutmut's fork server hands it to each mutant's process (TensorFlow is not fork-safe once an op
has run: a fork of a process that ran one hangs at its own first op). Outside those tests the
heavy modules are kept out of ``sys.modules`` (collection included), so any other test that
imports them is skipped as before; a keras_in_process test imports Keras inside the test.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

ON = os.environ.get("KOPT_TEST_FAST") == "1"
KERAS = ON and os.environ.get("KOPT_TEST_KERAS") == "1"  # make mutants: the keras_in_process tests run
MARKER = "keras_in_process"
RECORD = os.environ.get("KOPT_FAST_RECORD") == "1"
HEAVY = {"tensorflow", "keras", "jax", "torch", "tf_keras"}
REASON = "test-fast: needs TensorFlow"
LIST = Path(os.environ.get("KOPT_FAST_LIST") or Path(__file__).resolve().parent / "heavy_tests.txt")
LIST_HEADER = (
    "# Tests that `make test-fast` skipped because they import TensorFlow (tests/fastmode.py), one node id a line.\n"
    "# test-fast deselects them up front; a test missing here still runs and is skipped at its import.\n"
    "# Written by `make heavy-tests`; checked by tests/test_fastmode.py.\n"
)
COLLECTED = pytest.StashKey[set]()  # node ids collected in this process, before any deselection
_in_test = False
_allowed = False  # the running test is a keras_in_process one, and KERAS is on
_hidden: dict = {}  # KERAS: the imported heavy modules, out of sys.modules but while a keras_in_process test runs


def _hide() -> None:
    _hidden.update({k: sys.modules.pop(k) for k in list(sys.modules) if k.partition(".")[0] in HEAVY})


def _show() -> None:
    sys.modules.update(_hidden)
    _hidden.clear()


class _HeavyImportGuard:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in HEAVY or _allowed:
            return None
        if os.getpid() != int(os.environ["KOPT_FAST_PID"]):
            # a child forked by the test (an in-process `kopt` run): tell the test, as a subprocess does
            os.kill(int(os.environ["KOPT_FAST_PID"]), signal.SIGUSR1)
            os._exit(97)
        raise pytest.skip.Exception(f"{REASON} (imports {name})", allow_module_level=True)


def _on_subprocess_import(signum, frame):
    if _in_test:
        raise pytest.skip.Exception(f"{REASON} (a subprocess imported it)")


_installed = False


def install() -> None:
    """Arm both guards, once per test process when the fast tier runs (pytest imports conftest.py
    anew for each pytest.main in a process, as mutmut's forks of one process do)."""
    global _installed
    if _installed:
        return
    _installed = True
    guard_dir = str(Path(__file__).resolve().parent / "fastguard")
    os.environ["PYTHONPATH"] = guard_dir + os.pathsep + os.environ.get("PYTHONPATH", "")
    os.environ["KOPT_FAST_PID"] = str(os.getpid())
    if KERAS:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import gc

        import keras  # noqa: F401  (imported only: no op runs before the forks)

        _hide()
        gc.freeze()  # its objects out of the collector's reach: each fork would walk (and copy) them, ~1 CPU s
    sys.meta_path.insert(0, _HeavyImportGuard())
    signal.signal(signal.SIGUSR1, _on_subprocess_import)


def begin_test(item) -> None:
    """Before each test: this process is the test's (mutmut runs a mutant's tests in a fork of the
    process that installed the guards), and the heavy modules are in reach of keras_in_process tests only."""
    global _in_test, _allowed
    _in_test = True
    if not ON:
        return
    os.environ["KOPT_FAST_PID"] = str(os.getpid())
    _allowed = KERAS and item.get_closest_marker(MARKER) is not None
    if _allowed:
        _show()


def end_test() -> None:
    global _in_test, _allowed
    _in_test = _allowed = False
    if KERAS:
        _hide()


def listed(path: Path = LIST) -> list[str]:
    """The node ids in heavy_tests.txt, in file order (comments and blank lines left out)."""
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def plain_id(nodeid: str) -> str:
    """``nodeid`` without the ``@group`` suffix that `--dist loadgroup` adds (conftest's
    pytest_collection_finish): the list names a test as collection does, whatever its group."""
    head, at, tail = nodeid.rpartition("@")
    return head if at and "::" in head and not any(c in tail for c in "[]: ") else nodeid


def write_list(ids, path: Path = LIST) -> None:
    path.write_text(LIST_HEADER + "".join(f"{nodeid}\n" for nodeid in sorted(set(ids))))


class Recorder:
    """Outcomes of the fast tier as reports arrive (the xdist controller sees every worker's)."""

    def __init__(self) -> None:
        self.heavy: set[str] = set()  # skipped by the guard, at set-up or in the call
        self.light: set[str] = set()  # ran to the end without it

    def report(self, report) -> None:
        nodeid = plain_id(report.nodeid)
        if report.skipped and isinstance(report.longrepr, tuple) and REASON in str(report.longrepr[2]):
            self.heavy.add(nodeid)
            self.light.discard(nodeid)
        elif report.when == "call" and nodeid not in self.heavy:
            self.light.add(nodeid)

    def summary(self, known: list[str]) -> list[str]:
        """Lines for the end of the run; with RECORD, heavy_tests.txt rewritten first."""
        known_set = set(known)
        if RECORD:
            kept = (known_set - self.light) | self.heavy
            write_list(kept)
            added, dropped = len(kept - known_set), len(known_set - kept)
            return [f"test-fast: {LIST.name} rewritten: {len(kept)} tests, {added} added, {dropped} dropped"]
        lines = [f"test-fast: {len(known_set)} tests listed in {LIST.name} left out up front (they need TensorFlow)"]
        new = sorted(self.heavy - known_set)
        if new:
            lines.append(
                f"test-fast: {len(new)} tests needed TensorFlow and are not in {LIST.name}"
                " (`make heavy-tests` adds them, and the next run leaves them out up front):"
            )
            lines += [f"  {nodeid}" for nodeid in new[:10]] + (["  ..."] if len(new) > 10 else [])
        return lines
