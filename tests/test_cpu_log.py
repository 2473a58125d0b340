"""KOPT_TEST_CPU_LOG (tests/cpu_log.py) and its summary (benchmarks/suite_cpu.py): the CPU a test used
in its process, in the fresh processes it waited for, and in the `kopt` processes forked for it."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import cpu_log
import kopt_fork
from conftest import ROOT, kopt_env

sys.path.insert(0, str(ROOT / "benchmarks"))
import suite_cpu

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass"


def burn(seconds: float) -> None:
    exec(BURN.format(s=seconds))


def test_a_tests_line_holds_its_own_cpu_and_its_fresh_childrens_apart(tmp_path, monkeypatch):
    log = tmp_path / "cpu.jsonl"
    clock = cpu_log.start(str(log))
    burn(0.3)
    subprocess.run([sys.executable, "-c", BURN.format(s=0.6)], check=True)
    time.sleep(0.2)  # wall, not CPU
    record = clock.stop("tests/test_x.py::test_y")
    assert json.loads(log.read_text()) == record
    assert record["test"] == "tests/test_x.py::test_y" and record["kind"] == "test"
    assert 0.3 <= record["self_s"] < 0.55, record  # the child's CPU is not the test's own
    assert 0.6 <= record["fresh_s"] < 0.9, record
    assert record["wall_s"] >= 0.3 + 0.6 + 0.2, record
    monkeypatch.delenv(cpu_log.VARIABLE, raising=False)
    assert cpu_log.start() is None  # no log named: no clock
    monkeypatch.setenv(cpu_log.VARIABLE, str(log))
    assert cpu_log.start().path == str(log)


def test_the_fork_server_logs_each_forked_child_with_its_test_and_command(tmp_path):
    log = tmp_path / "cpu.jsonl"
    server = kopt_fork.server(kopt_env())
    env = kopt_env({cpu_log.VARIABLE: str(log)})
    done = server.run([], tmp_path, env, 60, python=["-c", BURN.format(s=0.4)])
    assert done is not None and done.returncode == 0, "not forked"
    quiet = server.run([], tmp_path, kopt_env(), 60, python=["-c", "pass"])  # no variable: no line
    assert quiet.returncode == 0
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["kind"] == "forked" and record["argv"].startswith("-c import time")
    assert (
        record["test"] == "tests/test_cpu_log.py::test_the_fork_server_logs_each_forked_child_with_its_test_and_command"
    )
    assert 0.4 <= record["forked_s"] < 0.8, record


def test_the_summary_adds_up_by_kind_file_command_and_test(tmp_path):
    records = [
        {"kind": "test", "test": "tests/test_a.py::t1", "self_s": 1.0, "fresh_s": 4.0, "wall_s": 6.0},
        {"kind": "test", "test": "tests/test_b.py::t2", "self_s": 0.5, "fresh_s": 0.0, "wall_s": 3.0},
        {"kind": "forked", "test": "tests/test_b.py::t2", "forked_s": 2.0, "argv": "-m kopt train a=1"},
        {"kind": "forked", "test": "tests/test_b.py::t2", "forked_s": 1.0, "argv": "-m kopt train -m a=1,2"},
        {"kind": "forked", "test": "tests/test_a.py::t1", "forked_s": 3.0, "argv": "-m kopt train b=2"},
        {"kind": "forked", "test": "tests/test_a.py::t1", "forked_s": 0.5, "argv": "-c print(1)"},
    ]
    total = suite_cpu.sums(records)
    assert total["kinds"] == {"self_s": 1.5, "fresh_s": 4.0, "forked_s": 6.5}
    assert total["files"] == {"tests/test_a.py": 8.5, "tests/test_b.py": 3.5}
    assert total["commands"] == {"train": 5.0, "train -m": 1.0, "python -c": 0.5}
    assert total["forks"] == {"train": 2, "train -m": 1, "python -c": 1}
    assert total["tests"]["tests/test_b.py::t2"] == 3.5 and total["wall_s"] == 9.0
    lines = suite_cpu.report(records, top=1)
    assert lines[0].startswith("12 CPU s in all: tests' own processes 2, fresh processes 4, 4 forked kopt 6")
    assert "tests/test_a.py" in lines[3] and "test_b" not in "".join(lines[2:5])  # top=1: the larger file only
    log = tmp_path / "cpu.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "suite_cpu.py"), str(log)], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.splitlines()[0] == lines[0], out.stderr
    assert [suite_cpu.command(a) for a in ("-m kopt tune x=1", "script.py a", "")] == ["tune", "python SCRIPT", "?"]
