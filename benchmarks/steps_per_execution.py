"""Issue 21 item 1: fewer dispatches per epoch. `kopt train` (digits, default CNN) with
trainer.steps_per_execution=1 against the default `auto`, whole processes alternating A/B in one
run; images/s from each run's median epoch time (metrics.jsonl time_s, the first epoch left out:
it traces the graph). The speed-up is the median over pairs of runs (back to back) of auto / 1,
so that a change in the machine's load between pairs cancels; the results must not differ.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from common import kopt_cmd, kopt_env, median, parser, target, write_result


def run_kopt(epochs: int, spe: str, cwd: Path, extra: list[str]) -> dict:
    proc = subprocess.run(
        kopt_cmd() + ["train", f"trainer.epochs={epochs}", f"trainer.steps_per_execution={spe}", *extra],
        cwd=cwd,
        env=kopt_env(),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    run = max((cwd / "runs" / "train").iterdir())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((run / "summary.json").read_text())
    with np.load(run / "splits.npz") as z:
        n_train = len(z["train_0"])
    epoch_s = median([r["time_s"] for r in rows[1:]])
    return {
        "images_per_s": n_train / epoch_s,
        "epoch_s": epoch_s,
        "steps_per_execution": summary["steps_per_execution"],
        "val_accuracy": summary["metrics"].get("val_accuracy"),
    }


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--extra", nargs="*", default=[], help="more train overrides (e.g. model=resnet20 dataset=cifar10)")
    args = p.parse_args()
    reps, epochs = (2, 6) if args.quick else (6, 12)
    runs: dict[str, list[dict]] = {"1": [], "auto": []}
    load = [list(os.getloadavg())]
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(reps):
            for spe in ("1", "auto") if i % 2 == 0 else ("auto", "1"):
                runs[spe].append(run_kopt(epochs, spe, Path(tmp), args.extra))
    load.append(list(os.getloadavg()))
    speed = {k: median([r["images_per_s"] for r in v]) for k, v in runs.items()}
    pairs = [a["images_per_s"] / b["images_per_s"] for a, b in zip(runs["auto"], runs["1"])]
    ratio = round(median(pairs), 3)
    same = all(a["val_accuracy"] == b["val_accuracy"] for a, b in zip(runs["auto"], runs["1"]))
    chosen = runs["auto"][0]["steps_per_execution"]
    targets = [
        target(
            f"images/s, steps_per_execution=auto ({chosen}) / 1, digits CNN (median of pairs)",
            ratio,
            ">= 1.2 (issue 21)",
            ratio >= 1.2,
        ),
        target("val_accuracy identical with auto and 1", float(same), "1", same, unit=""),
        target("images/s, steps_per_execution=1", round(speed["1"], 1), "report", None, unit="images/s"),
        target(
            f"images/s, steps_per_execution=auto ({chosen})", round(speed["auto"], 1), "report", None, unit="images/s"
        ),
    ]
    write_result(
        "steps_per_execution",
        args.out,
        args.quick,
        targets,
        reps=reps,
        epochs=epochs,
        extra=args.extra,
        runs=runs,
        pair_ratios=[round(r, 3) for r in pairs],
        load_average=load,
        notes=f"Pair ratios (auto / 1, back to back): {', '.join(f'{r:.2f}' for r in pairs)}; "
        f"load average at start and end {load[0][0]:.1f}, {load[1][0]:.1f} on {os.cpu_count()} cores.",
    )


if __name__ == "__main__":
    main()
