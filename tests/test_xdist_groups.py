"""`make test`'s `--dist loadgroup` keeps the tests that share a costly set-up on one worker
(conftest's shared_group and pytest_collection_finish): the node ids an xdist worker sends carry
the `@group` suffix the scheduler groups by."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT, kopt_env

# Loaded into the worker with -p: records the node ids it is about to send, then runs none of them.
RECORD = """
import os
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session):
    if hasattr(session.config, "workerinput"):
        with open(os.environ["IDS_OUT"], "w") as fh:
            fh.write("\\n".join(item.nodeid for item in session.items))
        session.items[:] = []
"""


def worker_ids(tmp_path, *files: str) -> dict[str, str]:
    """{test id: its group suffix, or ""} as one xdist worker collects ``files`` under loadgroup."""
    (tmp_path / "record_ids.py").write_text(RECORD)
    out = tmp_path / "ids.txt"
    env = kopt_env(
        {"PYTHONPATH": os.pathsep.join((str(ROOT), str(tmp_path))), "IDS_OUT": str(out), "KOPT_TEST_FAST": None}
        | {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": None}  # make test-fast's: this pytest needs xdist loaded
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "record_ids", "-n", "1"]
        + ["--dist", "loadgroup", *files],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode in (0, 5), proc.stdout + proc.stderr  # 5: no tests ran
    ids = {}
    for line in out.read_text().splitlines():
        test, _, group = line.rpartition("@") if line.rfind("@") > line.rfind("]") else (line, "", "")
        ids[test] = group
    return ids


def test_tests_sharing_a_module_fixture_or_a_service_carry_one_group(tmp_path):
    ids = worker_ids(tmp_path, "tests/test_switches.py", "tests/test_slurm.py", "tests/test_pg_storage.py")
    switches = "tests/test_switches.py::"
    # the two tests that read the module's trained runs: one group, named after the module
    assert ids[switches + "test_ema_weights_are_validated_tested_and_saved"] == "tests/test_switches.py"
    assert ids[switches + "test_steps_per_execution_is_recorded_and_keeps_the_epochs"] == "tests/test_switches.py"
    # a test that trains its own run stays a work unit of its own
    assert ids[switches + "test_lr_find_suggests_a_rate_inside_the_range"] == ""
    # the SLURM module (marked by hand) and a PostgreSQL test share the services' group
    assert {g for t, g in ids.items() if t.startswith("tests/test_slurm.py::")} == {"services"}
    assert ids["tests/test_pg_storage.py::test_optuna_study_on_postgresql_is_shared_by_processes"] == "services"
