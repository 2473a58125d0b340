"""P7: kopt on each installed Keras backend (tensorflow, jax, torch), side by side in one run.

For every backend: the digits CNN through `kopt train trainer.backend=B` against the plain Keras
script (benchmarks/baselines/plain_keras.py) under KERAS_BACKEND=B, alternating kopt/plain and
plain/kopt; and ResNet-20 (CIFAR-shaped synthetic data, 32x32x3) through kopt. Per side: the
median per-epoch time without the first epoch (tracing, compilation), the first epoch, and the
whole process. The table says which backend is fastest for which model on this machine.
Targets (issue 21), on each backend: per epoch <= 0.5x plain Keras, whole process <= 0.7x.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, kopt_cmd, kopt_env, median, parser, target, write_result

BACKENDS = [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b) is not None]
RESNET = [
    "model=resnet20",
    "dataset=synthetic",
    "dataset.shape=[32,32,3]",
    "dataset.size=1280",
    "trainer.batch_size=128",
    "optimizer=sgd",
    "optimizer.lr=0.1",
]


def epoch_times(run: Path) -> list[float]:
    return [json.loads(line)["time_s"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def run_kopt(backend: str, epochs: int, cwd: Path, extra: list[str]) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run(
        kopt_cmd() + ["train", f"trainer.epochs={epochs}", f"trainer.backend={backend}", *extra],
        cwd=cwd,
        env=kopt_env(),
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    times = epoch_times(max((cwd / "runs" / "train").iterdir()))
    return {"wall": wall, "first": times[0], "epoch": median(times[1:])}


def run_plain(backend: str, epochs: int) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "baselines" / "plain_keras.py"), f"--epochs={epochs}"],
        env={**kopt_env(), "KERAS_BACKEND": backend},
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    times = json.loads(proc.stdout.strip().splitlines()[-1])["epoch_times"]
    return {"wall": wall, "first": times[0], "epoch": median(times[1:])}


def medians(rows: list[dict]) -> dict:
    return {k: round(median([r[k] for r in rows]), 4) for k in ("wall", "first", "epoch")}


def main() -> None:
    args = parser(__doc__).parse_args()
    reps, epochs, resnet_epochs = (3, 8, 3) if args.quick else (5, 20, 5)
    cnn: dict[str, dict] = {}
    resnet: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in BACKENDS:
            sides: dict[str, list] = {"kopt": [], "plain": []}
            for i in range(reps):
                for side in ("kopt", "plain") if i % 2 == 0 else ("plain", "kopt"):
                    sides[side].append(
                        run_kopt(backend, epochs, Path(tmp), []) if side == "kopt" else run_plain(backend, epochs)
                    )
            cnn[backend] = {side: medians(rows) for side, rows in sides.items()}
            resnet[backend] = medians(
                [run_kopt(backend, resnet_epochs, Path(tmp), RESNET) for _ in range(max(1, reps - 1))]
            )
            print(f"backends: {backend}: cnn {cnn[backend]}, resnet20 {resnet[backend]}", flush=True)
    targets = []
    for backend in BACKENDS:
        epoch_ratio = round(cnn[backend]["kopt"]["epoch"] / cnn[backend]["plain"]["epoch"], 3)
        wall_ratio = round(cnn[backend]["kopt"]["wall"] / cnn[backend]["plain"]["wall"], 3)
        targets += [
            target(
                f"{backend}: digits CNN per-epoch time, kopt / plain Keras", epoch_ratio, "<= 0.5", epoch_ratio <= 0.5
            ),
            target(f"{backend}: digits CNN whole process, kopt / plain Keras", wall_ratio, "<= 0.7", wall_ratio <= 0.7),
        ]
    for model, table in (("digits CNN", {b: cnn[b]["kopt"] for b in BACKENDS}), ("ResNet-20", resnet)):
        fastest = min(BACKENDS, key=lambda b: table[b]["epoch"])
        for backend in BACKENDS:
            targets.append(
                target(
                    f"{model} through kopt on {backend}: per-epoch time (first epoch "
                    f"{table[backend]['first']:.2f} s){' - fastest' if backend == fastest else ''}",
                    table[backend]["epoch"],
                    "(info)",
                    None,
                    "s",
                )
            )
    write_result(
        "backends",
        args.out,
        args.quick,
        targets,
        backends=BACKENDS,
        reps=reps,
        epochs=epochs,
        resnet_epochs=resnet_epochs,
        cnn=cnn,
        resnet20=resnet,
    )


if __name__ == "__main__":
    main()
