"""The study's end: every trial's ``curves.png`` (issue 30, item 3). Side by side in one process,
on the same N trials' metrics (default 50): the old way, :func:`kopt.training.curves.plot_curves`
per trial (a new Figure, constrained layout, zlib level 6), against :class:`CurvesDrawer` (one
reused Figure, each layout shape computed once, zlib level 1), alternating which goes first. Each
pair of PNGs is checked pixel for pixel. Median seconds per figure, and the machine's load.

    python benchmarks/trial_curves.py                # 50 trials, 5 epochs, 3 rounds
    python benchmarks/trial_curves.py --epochs 1     # one-epoch trials (tiny studies)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

TITLE = "study/trials/{}  ·  model=mlp  regularizer=dropout  optimizer=adam  dataset=digits  split=holdout  ·  seed=0"


def write_trials(root: Path, trials: int, epochs: int, folds: int) -> list[Path]:
    """Trials of one study: losses and accuracies of similar ranges, each its own."""
    rng = random.Random(0)
    dirs = []
    for n in range(trials):
        run_dir = root / "trials" / str(n)
        run_dir.mkdir(parents=True)
        start, floor = rng.uniform(0.6, 2.5), rng.uniform(0.05, 0.5)
        rows = []
        for fold in range(folds):
            for e in range(1, epochs + 1):
                loss = floor + (start - floor) / e + rng.uniform(0, 0.02)
                acc = min(0.99, 0.3 + 0.6 * (1 - loss / (start + 0.5)) + rng.uniform(0, 0.02))
                rows.append(
                    {
                        "fold": fold,
                        "epoch": e,
                        "loss": loss,
                        "accuracy": acc,
                        "val_loss": loss * 1.1,
                        "val_accuracy": acc - 0.02,
                    }
                )
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        dirs.append(run_dir)
    return dirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--folds", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    args = parser.parse_args()

    import numpy as np
    from PIL import Image

    from kopt.training.curves import CurvesDrawer, plot_curves

    load_before = os.getloadavg()
    old, new, differ, layouts = [], [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        dirs = write_trials(Path(tmp), args.trials, args.epochs, args.folds)
        plot_curves(dirs[0], title="warm-up")  # matplotlib's imports and fonts, paid by both
        for r in range(args.rounds):
            drawer = CurvesDrawer()  # a new study: nothing kept from the last round
            for i, run_dir in enumerate(dirs):
                title = TITLE.format(i)
                order = ("old", "new") if (i + r) % 2 == 0 else ("new", "old")
                pixels = {}
                for which in order:
                    t = time.perf_counter()
                    if which == "old":
                        plot_curves(run_dir, title=title)
                    else:
                        drawer.plot(run_dir, title=title)
                    (old if which == "old" else new).append(time.perf_counter() - t)
                    pixels[which] = np.asarray(Image.open(run_dir / "curves.png"))
                differ += int(
                    pixels["old"].shape != pixels["new"].shape or bool((pixels["old"] != pixels["new"]).any())
                )
            layouts = len(drawer.layouts)
    result = {
        "trials": args.trials,
        "epochs": args.epochs,
        "folds": args.folds,
        "rounds": args.rounds,
        "old_s_per_figure": round(statistics.median(old), 4),
        "new_s_per_figure": round(statistics.median(new), 4),
        "speedup": round(statistics.median(old) / statistics.median(new), 2),
        "layouts_computed_per_study": layouts,
        "figures_differing_in_pixels": differ,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
