"""Images streamed from disk (``dataset=images``, kopt.data.images): memory and throughput.

1. Memory. A folder of 1,000 and one of 8,000 PNG images of 64x64x3 (10 classes). For each, a
   fresh process does what a run does with its data (load the dataset, split it, fit the
   normalisation on the training fold, one epoch of a small CNN over the training stream, one pass
   over the validation batches) and reports its peak RSS (``ru_maxrss``). Target: going from 1,000
   to 8,000 images adds < 150 MB (the decoded 7,000 images more are 344 MB of float32). The same
   is measured with the images decoded into memory first (``np.asarray(data.x)``: what the loader
   did before), for comparison.
2. Throughput. The small CNN (``model=cnn``, defaults: 2 blocks of 32/64 filters) trains on the
   same training fold from disk (the file stream) and from memory (the decoded arrays through the
   same ``train_stream``), alternating epochs after a warm-up epoch each; images/s is the median.
   Target: from disk >= 0.8x from memory.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, median, parser, target, write_result

CLASSES, SIZE, BATCH = 10, 64, 64


def write_folder(root: Path, n: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        c = i % CLASSES
        folder = root / f"c{c}"
        folder.mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 160, size=(SIZE // 8, SIZE // 8, 3)) + 8 * c  # blocky: compresses as photos do
        pixels = np.kron(base, np.ones((8, 8, 1))) + rng.integers(0, 16, size=(SIZE, SIZE, 3))
        Image.fromarray(pixels.clip(0, 255).astype("uint8")).save(folder / f"{i:05d}.png")
    return root


def prepare(folder: str, seed: int = 0):
    from omegaconf import OmegaConf

    from kopt.data.datasets import load_dataset
    from kopt.data.splits import make_splits

    data = load_dataset(
        OmegaConf.create(
            {"name": "images", "path": folder, "test_path": None, "image_size": [SIZE, SIZE], "color_mode": "rgb"}
            | {"limit": None}
        ),
        seed,
    )
    split = OmegaConf.load(ROOT / "configs" / "split" / "holdout.yaml")
    splits = make_splits(split, data.y, seed, fixed_test=data.test_idx)
    train, val = splits.folds[0]
    return data, train, val


def small_cnn():
    import keras
    from omegaconf import OmegaConf

    from kopt.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model(
        OmegaConf.load(ROOT / "configs" / "model" / "cnn.yaml"),
        OmegaConf.load(ROOT / "configs" / "regularizer" / "none.yaml"),
        (SIZE, SIZE, 3),
        CLASSES,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def child_rss(folder: str, in_memory: bool) -> None:
    """One run's data work; prints its peak RSS in MB."""
    from kopt.runtime import setup_tensorflow

    setup_tensorflow(0)
    from kopt.data.pipeline import Normalizer, batches_per_pass, make_dataset, train_stream

    data, train, val = prepare(folder)
    x = np.asarray(data.x) if in_memory else data.x
    norm = Normalizer.fit(x[train])
    model = small_cnn()
    steps = batches_per_pass(len(train), BATCH)
    model.fit(train_stream(norm(x[train]), data.y[train], BATCH, seed=0), epochs=1, steps_per_epoch=steps, verbose=0)
    model.evaluate(make_dataset(norm(x[val]), data.y[val], BATCH), verbose=0)
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def peak_rss(folder: Path, in_memory: bool) -> float:
    cmd = [sys.executable, __file__, "--child-rss", str(folder), *(["--in-memory"] if in_memory else [])]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_rss_mb"]


def throughput(folder: Path, reps: int) -> dict:
    from kopt.runtime import setup_tensorflow

    setup_tensorflow(0)
    from kopt.data.pipeline import Normalizer, batches_per_pass, train_stream

    data, train, _ = prepare(str(folder))
    norm = Normalizer.fit(data.x[train])
    decoded = norm(np.asarray(data.x[train]))
    steps = batches_per_pass(len(train), BATCH)
    variants = {}
    for name, x in (("disk", norm(data.x[train])), ("memory", decoded)):
        model = small_cnn()
        ds = train_stream(x, data.y[train], BATCH, seed=0)
        model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)  # warm-up: tracing
        variants[name] = {"model": model, "ds": ds, "epoch_s": []}
    for rep in range(reps):
        for name in ("disk", "memory") if rep % 2 == 0 else ("memory", "disk"):
            v = variants[name]
            t0 = time.perf_counter()
            v["model"].fit(v["ds"], epochs=1, steps_per_epoch=steps, verbose=0)
            v["epoch_s"].append(time.perf_counter() - t0)
    pairs = [m / d for d, m in zip(variants["disk"]["epoch_s"], variants["memory"]["epoch_s"])]
    return {
        "ratio": round(median(pairs), 3),
        "images_per_s": {k: round(len(train) / median(v["epoch_s"]), 1) for k, v in variants.items()},
        "epoch_s": {k: v["epoch_s"] for k, v in variants.items()},
        "train_images": len(train),
    }


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--child-rss", default=None, help=argparse_hidden())
    p.add_argument("--in-memory", action="store_true", help=argparse_hidden())
    args = p.parse_args()
    if args.child_rss:
        child_rss(args.child_rss, args.in_memory)
        return
    small, large = 1000, 8000
    rate_images, reps = (2000, 3) if args.quick else (8000, 5)
    with tempfile.TemporaryDirectory() as tmp:
        folders = {n: write_folder(Path(tmp) / str(n), n) for n in (small, large)}
        rss = {
            f"{mode}_{n}": peak_rss(folders[n], mode == "memory") for mode in ("disk", "memory") for n in (small, large)
        }
        added = round(rss[f"disk_{large}"] - rss[f"disk_{small}"], 1)
        added_memory = round(rss[f"memory_{large}"] - rss[f"memory_{small}"], 1)
        rate_folder = folders[large] if rate_images == large else write_folder(Path(tmp) / "rate", rate_images)
        rate = throughput(rate_folder, reps)
    targets = [
        target(f"peak RSS added, {small} -> {large} images of 64x64 (streamed)", added, "< 150", added < 150, "MB"),
        target("training images/s, from disk / from memory", rate["ratio"], ">= 0.8", rate["ratio"] >= 0.8),
    ]
    write_result(
        "image_stream",
        args.out,
        args.quick,
        targets,
        peak_rss_mb={k: round(v, 1) for k, v in rss.items()},
        rss_added_in_memory_mb=added_memory,
        throughput=rate,
        model="cnn (configs/model/cnn.yaml defaults)",
        batch_size=BATCH,
    )


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
