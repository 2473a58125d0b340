"""Time the paper recipes (ResNet-20, DenseNet-BC-100, WRN-28-10 on CIFAR-10) on a GPU.

Builds each model with kopt's own builders from the experiment presets, trains it on
CIFAR-shaped synthetic data for a fixed number of steps with the recipe's optimizer and batch
size, and reports images/s, the time of one 45k-image epoch and of the whole recipe.

Run anywhere Keras 3 has a GPU backend, e.g. ``KERAS_BACKEND=jax python benchmarks/gpu_recipes.py``
(the device used for the recorded result has JAX but no TensorFlow). Not part of ``make bench``:
that runs on the 2-core CPU machine, where these recipes would take weeks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RECIPES = {  # experiment preset -> (epochs, train images per epoch)
    "resnet20_cifar10": (182, 45000),
    "densenet_bc100_cifar10": (300, 45000),
    "wrn28_10_cifar10": (200, 45000),
}


def preset(name: str):
    """The composed config of ``experiment=<name>`` (the data itself is synthetic here)."""
    from kopt.compose import compose_job
    from kopt.paths import config_dir

    cfg = compose_job("config", [f"experiment={name}", "dataset=synthetic"], [config_dir()])
    return cfg.model, cfg.regularizer, cfg


def time_recipe(name: str, steps: int, warmup: int, precision: str) -> dict:
    import keras
    import numpy as np

    from kopt.models import build_model

    keras.config.set_dtype_policy("mixed_bfloat16" if precision == "bf16" else "float32")
    model_cfg, reg, exp = preset(name)
    batch = int(exp.trainer.batch_size)
    model = build_model(model_cfg, reg, (32, 32, 3), 10)
    opt = keras.optimizers.SGD(
        learning_rate=float(exp.optimizer.lr),
        momentum=float(exp.optimizer.momentum),
        nesterov=bool(exp.optimizer.nesterov),
    )
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch * 8, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=(batch * 8,))
    ds_x, ds_y = np.concatenate([x] * 64), np.concatenate([y] * 64)  # 512 distinct batches' worth of steps
    model.fit(ds_x[: batch * warmup], ds_y[: batch * warmup], batch_size=batch, epochs=1, verbose=0)
    n = batch * steps
    reps = int(np.ceil(n / len(ds_x)))
    xs, ys = np.concatenate([ds_x] * reps)[:n], np.concatenate([ds_y] * reps)[:n]
    t0 = time.perf_counter()
    model.fit(xs, ys, batch_size=batch, epochs=1, verbose=0)
    elapsed = time.perf_counter() - t0
    ips = n / elapsed
    epochs, per_epoch = RECIPES[name]
    return {
        "recipe": name,
        "precision": precision,
        "batch_size": batch,
        "params": int(model.count_params()),
        "steps_timed": steps,
        "images_per_s": round(ips, 1),
        "epoch_s": round(per_epoch / ips, 2),
        "recipe_epochs": epochs,
        "recipe_hours": round(epochs * per_epoch / ips / 3600, 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    import keras

    rows = []
    for name in RECIPES:
        for precision in a.precision:
            keras.backend.clear_session()
            row = time_recipe(name, a.steps, a.warmup, precision)
            print(json.dumps(row), flush=True)
            rows.append(row)
    doc = {"benchmark": "gpu_recipes", "backend": keras.backend.backend(), "rows": rows}
    if a.out:
        a.out.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
