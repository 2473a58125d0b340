"""Where `make test`'s CPU time goes: the sums of a KOPT_TEST_CPU_LOG file (tests/cpu_log.py).

    KOPT_TEST_CPU_LOG=/tmp/cpu.jsonl make test
    python benchmarks/suite_cpu.py /tmp/cpu.jsonl [--top 25]

Prints the CPU seconds of the tests' own processes, of the fresh processes they waited for and of
the `kopt` processes forked for them, then the test files, the forked commands (`kopt train`,
`kopt tune`, ...) and the tests that took the most. The suite is CPU-bound on 2 cores: its wall
time is about the sum over two.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

KINDS = ("self_s", "fresh_s", "forked_s")


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def command(argv: str) -> str:
    """`-m kopt train -m a=1` -> `train -m`; `-c CODE` -> `python -c`; a script -> `python SCRIPT`."""
    words = argv.split()
    if words[:2] == ["-m", "kopt"] and len(words) > 2:
        return words[2] + (" -m" if words[2] == "train" and "-m" in words[3:] else "")
    return "python " + (words[0] if words[:1] == ["-c"] else "SCRIPT") if words else "?"


def sums(records: list[dict]) -> dict:
    """Totals by kind, and CPU by test file, by forked command and by test (with the forked count)."""
    kinds, files, commands, tests, forks = Counter(), Counter(), Counter(), Counter(), Counter()
    for record in records:
        test = record.get("test", "")
        for kind in KINDS:
            seconds = record.get(kind, 0.0)
            kinds[kind] += seconds
            files[test.split("::")[0]] += seconds
            tests[test] += seconds
        if record.get("kind") == "forked":
            commands[command(record.get("argv", ""))] += record["forked_s"]
            forks[command(record.get("argv", ""))] += 1
    wall = sum(record.get("wall_s", 0.0) for record in records)
    return {"kinds": kinds, "files": files, "commands": commands, "forks": forks, "tests": tests, "wall_s": wall}


def report(records: list[dict], top: int = 25) -> list[str]:
    total = sums(records)
    kinds = total["kinds"]
    lines = [
        f"{sum(kinds.values()):.0f} CPU s in all: tests' own processes {kinds['self_s']:.0f}, fresh processes "
        f"{kinds['fresh_s']:.0f}, {sum(total['forks'].values())} forked kopt {kinds['forked_s']:.0f}; "
        f"the tests' wall time summed: {total['wall_s']:.0f} s"
    ]
    lines += ["", "by test file:"] + [f"  {s:8.1f}  {name}" for name, s in total["files"].most_common(top)]
    lines += ["", "forked, by command (CPU s, count, mean):"]
    for name, seconds in total["commands"].most_common(top):
        count = total["forks"][name]
        lines.append(f"  {seconds:8.1f}  {count:5d}  {seconds / count:5.2f}  {name}")
    lines += ["", "by test:"] + [f"  {s:8.1f}  {name}" for name, s in total["tests"].most_common(top)]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, help="the KOPT_TEST_CPU_LOG file of a test run")
    parser.add_argument("--top", type=int, default=25, help="rows per table (default 25)")
    args = parser.parse_args(argv)
    print("\n".join(report(read(args.log), args.top)))


if __name__ == "__main__":
    main()
