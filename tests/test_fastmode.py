"""`make test-fast`'s list of tests that need TensorFlow (tests/heavy_tests.txt, tests/fastmode.py):
every entry names a test that exists, and the fast tier records, leaves out and reports as it says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import fastmode
import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY_LIST = Path(fastmode.__file__).resolve().parent / "heavy_tests.txt"


def test_every_listed_heavy_test_exists(request):
    entries = fastmode.listed(HEAVY_LIST)
    assert entries, "tests/heavy_tests.txt is empty: `make heavy-tests` writes it"
    assert entries == sorted(set(entries)), "tests/heavy_tests.txt is not sorted and unique: `make heavy-tests`"
    collected = request.config.stash.get(fastmode.COLLECTED, set())
    collected_files = {nodeid.partition("::")[0] for nodeid in collected}
    stale = []
    for entry in entries:
        file, _, rest = entry.partition("::")
        if not rest or not (ROOT / file).is_file():
            stale.append(entry)
        elif file in collected_files:  # collected in this session, parameters and all
            if entry not in collected:
                stale.append(entry)
        else:  # not collected here (a run of other files, or skipped at import): the function at least
            name = rest.split("::")[-1].partition("[")[0]
            if not re.search(rf"^\s*(async\s+)?def {re.escape(name)}\(", (ROOT / file).read_text(), re.M):
                stale.append(entry)
    assert not stale, f"tests/heavy_tests.txt names tests that do not exist (`make heavy-tests` rewrites it): {stale}"


DEMO = """
import subprocess
import sys


def test_light():
    assert sum([1, 2]) == 3


def test_heavy_in_process():
    {in_process}


def test_heavy_in_a_subprocess():
    subprocess.run([sys.executable, "-c", "import tensorflow"], timeout=60)
    raise AssertionError("the guard should have skipped this test")
{extra}
"""
NEW = """

def test_new_heavy():
    import keras  # noqa: F401
"""


def _fast_pytest(folder: Path, record: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KOPT_FAST"))}
    env.update(
        KOPT_TEST_FAST="1",
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",  # conftest alone (-p): no hypothesis or Hydra plugin to import
        KOPT_FAST_LIST=str(folder / "heavy.txt"),
        # the subprocesses' guard too, as in a worker of xdist, started after the controller armed it
        PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "fastguard"), str(ROOT / "tests"), str(ROOT)]),
    )
    if record:
        env["KOPT_FAST_RECORD"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest", "--rootdir", str(folder)]
    return subprocess.run([*cmd, "test_demo.py"], cwd=folder, env=env, text=True, capture_output=True, timeout=120)


def _last_line(proc: subprocess.CompletedProcess) -> str:
    return [line for line in proc.stdout.splitlines() if line.strip()][-1]


def test_heavy_tests_are_recorded_left_out_and_new_ones_named(tmp_path):
    demo = tmp_path / "test_demo.py"
    demo.write_text(DEMO.format(in_process="import keras  # noqa: F401", extra=""))
    heavy = ["test_demo.py::test_heavy_in_a_subprocess", "test_demo.py::test_heavy_in_process"]

    recorded = _fast_pytest(tmp_path, record=True)  # `make heavy-tests`
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert "heavy.txt rewritten: 2 tests, 2 added, 0 dropped" in recorded.stdout, recorded.stdout
    assert fastmode.listed(tmp_path / "heavy.txt") == heavy
    assert _last_line(recorded).startswith("1 passed, 2 skipped"), recorded.stdout

    demo.write_text(DEMO.format(in_process="import keras  # noqa: F401", extra=NEW))
    fast = _fast_pytest(tmp_path, record=False)  # `make test-fast`: the listed two left out, the new one found
    assert fast.returncode == 0, fast.stdout + fast.stderr
    assert _last_line(fast).startswith("1 passed, 1 skipped, 2 deselected"), fast.stdout
    assert "test-fast: 2 tests listed in heavy.txt left out up front" in fast.stdout, fast.stdout
    assert "1 tests needed TensorFlow and are not in heavy.txt" in fast.stdout, fast.stdout
    assert "  test_demo.py::test_new_heavy\n" in fast.stdout, fast.stdout
    assert fastmode.listed(tmp_path / "heavy.txt") == heavy  # test-fast itself writes nothing

    demo.write_text(DEMO.format(in_process="assert True", extra=NEW))
    again = _fast_pytest(tmp_path, record=True)  # one listed test no longer needs TensorFlow
    assert again.returncode == 0, again.stdout + again.stderr
    assert "heavy.txt rewritten: 2 tests, 1 added, 1 dropped" in again.stdout, again.stdout
    assert fastmode.listed(tmp_path / "heavy.txt") == [
        "test_demo.py::test_heavy_in_a_subprocess",
        "test_demo.py::test_new_heavy",
    ]


def test_the_list_names_tests_without_their_xdist_group_suffix():
    """`--dist loadgroup` reports a grouped test as `<id>@<group>`; the list keeps the id that
    collection gives (else test-fast would never leave those tests out)."""
    assert fastmode.plain_id("tests/test_a.py::test_x@tests/test_a.py") == "tests/test_a.py::test_x"
    assert fastmode.plain_id("tests/test_a.py::test_x[pg]@services") == "tests/test_a.py::test_x[pg]"
    assert fastmode.plain_id("tests/test_a.py::test_x[a@b]") == "tests/test_a.py::test_x[a@b]"
    assert fastmode.plain_id("tests/test_a.py::test_x") == "tests/test_a.py::test_x"


def test_make_mutants_keeps_the_listed_keras_in_process_tests():
    """`make mutants` runs the fast tier with KOPT_TEST_KERAS=1: the keras_in_process tests must run
    there even though heavy_tests.txt lists them (else mutmut finds no test for the functions only
    they reach: checkpoint.py's save and load gave 248 "no test" mutants)."""
    if fastmode.ON:  # its pytest imports Keras, as make mutants' does: a test of make test, not of the fast tier
        pytest.skip(f"{fastmode.REASON} (its pytest process imports Keras)")
    marked = [e for e in fastmode.listed(HEAVY_LIST) if e.startswith("tests/test_mutants_checkpoint.py::test_a_")]
    assert marked, "heavy_tests.txt lists no keras_in_process test of test_mutants_checkpoint.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KOPT_FAST"))}
    env.update(KOPT_TEST_FAST="1", KOPT_TEST_KERAS="1", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider"]
    proc = subprocess.run(
        [*cmd, "tests/test_mutants_checkpoint.py"], cwd=ROOT, env=env, text=True, capture_output=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    collected = {line.strip() for line in proc.stdout.splitlines() if "::" in line}
    assert set(marked) <= collected, sorted(set(marked) - collected)
    assert "deselected" not in proc.stdout.splitlines()[-1], proc.stdout.splitlines()[-1]
