"""`make mutants`: run mutmut over the core modules, then print killed/total per module and overall.

    python tests/mutants_report.py                  # mutate and test every core module, then the table
    python tests/mutants_report.py kopt.stats       # only the mutants of these modules (mutmut's name globs)
    python tests/mutants_report.py --report         # the table of the last run only (mutants/*.meta)
    python tests/mutants_report.py --survivors      # also each survivor's name and diff line

The modules and the tests that kill their mutants are in pyproject.toml's [tool.mutmut]; mutmut
copies the tree into mutants/ and runs each mutant against the tests that reach its function.
A timeout counts as killed (the mutant hung the tests), as mutmut's own score does; "no test" counts
mutants of functions no listed test calls, "not run" those an interrupted run left (both not killed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KILLED = {1, 3, 36, 37, 24, -24, 152, 255}  # failed tests, pytest's internal error, timeouts, type check
SURVIVED = {0}


NO_TESTS = {5, 33}  # no test reaches the mutated function


def counts(meta: Path) -> tuple[int, int, int, int, list[str]]:
    """(killed, total, no test reaches it, not run yet, survivors' names) of one mutated file's results."""
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    killed = sum(1 for c in codes.values() if c in KILLED)
    untested = sum(1 for c in codes.values() if c in NO_TESTS)
    pending = sum(1 for c in codes.values() if c is None)
    return killed, len(codes), untested, pending, sorted(k for k, c in codes.items() if c in SURVIVED)


def table(show_survivors: bool) -> int:
    metas = sorted((ROOT / "mutants").rglob("*.py.meta"))
    if not metas:
        print("no mutmut results in mutants/: run `make mutants` first", file=sys.stderr)
        return 1
    total_row = [0, 0, 0, 0]
    print(f"{'module':<32} {'killed':>7} {'total':>6} {'score':>7} {'no test':>8} {'not run':>8}")
    for meta in metas:
        killed, total, untested, pending, survivors = counts(meta)
        if not total:
            continue
        module = str(meta.relative_to(ROOT / "mutants")).removesuffix(".meta")
        total_row = [a + b for a, b in zip(total_row, (killed, total, untested, pending))]
        print(f"{module:<32} {killed:>7} {total:>6} {100 * killed / total:>6.1f}% {untested:>8} {pending:>8}")
        if show_survivors:
            for name in survivors:
                print(f"    survived: {name}")
    killed, total, untested, pending = total_row
    print(f"{'overall':<32} {killed:>7} {total:>6} {100 * killed / max(total, 1):>6.1f}% {untested:>8} {pending:>8}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="mutmut name globs, e.g. kopt.stats (default: every core module)")
    parser.add_argument("--report", action="store_true", help="print the last run's table; run nothing")
    parser.add_argument("--survivors", action="store_true", help="list each surviving mutant")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", "2")), help="mutmut workers")
    args = parser.parse_args(argv)
    if not args.report:
        names = [m if m.endswith("*") else m + "*" for m in args.modules]
        # a test that reaches TensorFlow is skipped, not run, but those marked keras_in_process (tests/fastmode.py)
        env = {**os.environ, "KOPT_TEST_FAST": "1", "KOPT_TEST_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
        mutmut = Path(sys.executable).with_name("mutmut")
        cmd = [str(mutmut), "run", "--max-children", str(args.jobs), *names]
        (ROOT / "mutants").mkdir(exist_ok=True)
        log = ROOT / "mutants" / "run.log"
        print(f"mutmut run (its output in {log.relative_to(ROOT)}) ...", flush=True)
        with log.open("w") as out:
            done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        if done.returncode:
            print(f"mutmut exited {done.returncode}; see {log}", file=sys.stderr)
            return done.returncode
    return table(args.survivors)


if __name__ == "__main__":
    sys.exit(main())
