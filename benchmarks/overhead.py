"""P1: kopt's overhead against a minimal plain Keras script (benchmarks/baselines/plain_keras.py)
training the same CNN on the same digits data for the same epochs and seed.

Both run as whole processes, alternating A/B/A/B; reports median ratios of the per-epoch time
(kopt: metrics.jsonl time_s; baseline: its own callback timing) and of the whole process.
Targets (issue 21): per-epoch <= 0.5x, whole process <= 0.7x.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, kopt_cmd, kopt_env, median, parser, target, write_result


def run_kopt(epochs: int, cwd: Path) -> tuple[float, list[float]]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        kopt_cmd() + ["train", f"trainer.epochs={epochs}"], cwd=cwd, env=kopt_env(), capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    run = max((cwd / "runs" / "train").iterdir())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return wall, [r["time_s"] for r in rows]


def run_plain(epochs: int) -> tuple[float, list[float]]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "baselines" / "plain_keras.py"), f"--epochs={epochs}"],
        env=kopt_env(),
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])["epoch_times"]


def main() -> None:
    args = parser(__doc__).parse_args()
    reps, epochs = (5, 10) if args.quick else (7, 30)
    walls = {"kopt": [], "plain": []}
    epochs_t = {"kopt": [], "plain": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(reps):
            for side in ("kopt", "plain") if i % 2 == 0 else ("plain", "kopt"):
                wall, times = run_kopt(epochs, Path(tmp)) if side == "kopt" else run_plain(epochs)
                walls[side].append(wall)
                epochs_t[side].append(median(times[1:]))  # the first epoch includes tracing
    epoch_ratio = round(median(epochs_t["kopt"]) / median(epochs_t["plain"]), 3)
    wall_ratio = round(median(walls["kopt"]) / median(walls["plain"]), 3)
    targets = [
        target("per-epoch time, kopt / plain Keras", epoch_ratio, "<= 0.5", epoch_ratio <= 0.5),
        target("whole process, kopt / plain Keras", wall_ratio, "<= 0.7", wall_ratio <= 0.7),
    ]
    write_result(
        "overhead", args.out, args.quick, targets, reps=reps, epochs=epochs, wall_s=walls, median_epoch_s=epochs_t
    )


if __name__ == "__main__":
    main()
