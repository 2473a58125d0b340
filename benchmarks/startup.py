"""P5: start-up latency of the paths that must not load TensorFlow.

Median of N runs each of `kopt --help`, `kopt train --cfg job`, `kopt tune --cfg job`
(targets 0.5 s, 0.3 s, 0.5 s; issue 21), plus a check that none of them imported TensorFlow; and the time
from starting `kopt train` (stdout a pipe) to its first line (target 1.0 s; the run is then
stopped with SIGTERM).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import kopt_cmd, kopt_env, median, parser, target, timed, write_result

CASES = [
    ("kopt --help", ["--help"], 0.5),
    ("kopt train --cfg job", ["train", "--cfg", "job"], 0.3),
    # no search given: the model's preset is composed in, as a user's first `kopt tune` does
    ("kopt tune --cfg job", ["tune", "--cfg", "job"], 0.5),
]

PROBE = (
    "import sys; from kopt.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
    "print('TF' if 'tensorflow' in sys.modules else 'NO_TF')"
)


FIRST_LINE = ("kopt train: first line", ["train", "trainer.epochs=1"], 1.0)


def first_line_s(argv: list[str], cwd: Path) -> float:
    """Seconds from start to the first line on stdout; then the run is stopped."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        kopt_cmd() + argv,
        cwd=cwd,
        env=kopt_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    proc.terminate()
    proc.communicate(timeout=120)
    if not line:
        raise RuntimeError(f"{' '.join(argv)} printed nothing (rc {proc.returncode})")
    return elapsed


def available(argv: list[str]) -> bool:
    proc = subprocess.run(kopt_cmd() + argv, env=kopt_env(), capture_output=True, text=True)
    return proc.returncode == 0


def main() -> None:
    args = parser(__doc__).parse_args()
    runs = 5 if args.quick else 10
    targets, details = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, argv, goal in CASES:
            if not available(argv):
                targets.append(target(name, None, f"<= {goal} s", None, "s", note="command not available"))
                continue
            times = [timed(kopt_cmd() + argv, cwd=Path(tmp), env=kopt_env()) for _ in range(runs)]
            probe = subprocess.run(
                [sys.executable, "-c", PROBE.format(argv=argv)], cwd=tmp, env=kopt_env(), capture_output=True, text=True
            )
            no_tf = "NO_TF" in probe.stdout
            details[name] = {"times_s": times, "imports_tensorflow": not no_tf}
            value = round(median(times), 3)
            targets.append(target(name, value, f"<= {goal} s", value <= goal and no_tf, "s"))
        name, argv, goal = FIRST_LINE
        times = [first_line_s(argv, Path(tmp)) for _ in range(runs)]
        details[name] = {"times_s": times}
        value = round(median(times), 3)
        targets.append(target(name, value, f"<= {goal} s", value <= goal, "s"))
    write_result("startup", args.out, args.quick, targets, runs=runs, details=details)


if __name__ == "__main__":
    main()
