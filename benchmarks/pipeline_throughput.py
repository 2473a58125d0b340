"""P2: the input pipeline with augmentation must not starve the model.

Trains one model on CIFAR-shaped synthetic data (32x32x3, 10 classes) through the pipeline
``run_train`` trains with (kopt.data.pipeline.train_stream, the resumable stream, with
kopt.data.augment.build_augment; ``steps_per_epoch`` one pass, op determinism on as
``trainer.deterministic`` defaults) with ``augment=standard`` and with ``augment=none``,
alternating epochs A/B, B/A, ... after a warm-up epoch each; the ratio is the median over
those back-to-back pairs. Target: training throughput with augmentation >= 0.90x the
throughput without. On a shared CPU-only machine wall time is noisy, so the CPU time per epoch
(model and pipeline share the cores there) is reported as a second, steadier reading.

The model is ResNet-20 (``model=resnet``, depth 20) when the model zoo registers it, else
``model=cnn``; ``--model`` picks another. Also reported: the pipeline alone (no model), and,
for comparison, the same layers called the plain Keras way (a seed variable in the map
function, which makes tf.data run the map serially without prefetching under op determinism).
"""

from __future__ import annotations

import time

import numpy as np
from common import ROOT, median, parser, target, write_result


def model_config(name: str):
    from omegaconf import OmegaConf

    from kopt.schemas import SCHEMAS

    if name == "resnet" and name not in SCHEMAS["model"]:
        name = "cnn"  # the model zoo is not merged: measure on the foundation CNN
    cfg = OmegaConf.load(ROOT / "configs" / "model" / f"{name}.yaml")
    if name == "resnet":
        cfg.depth = 20
    return cfg, OmegaConf.load(ROOT / "configs" / "regularizer" / "none.yaml")


def pipeline_rate(ds, samples: int, reps: int = 3) -> float:
    """Samples per second over one pass of ``ds`` (an endless training stream: its first ``samples``)."""
    for _ in ds:  # warm: tracing
        pass
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in ds:
            pass
        times.append(time.perf_counter() - t0)
    return samples / median(times)


def plain_keras_map(x, y, batch: int, seed: int, layers):
    """The usual recipe: Keras layers called in a map function (their seed lives in a variable)."""
    import tensorflow as tf

    def augment(xb, yb):
        for layer in layers:
            xb = layer(xb, training=True)
        return xb, yb

    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache().shuffle(len(x), seed=seed).batch(batch)
    return ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--model", default="resnet", help="a kopt model name (default resnet: ResNet-20; cnn if absent)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--no-deterministic", action="store_true", help="leave TensorFlow op determinism off")
    args = p.parse_args()
    samples, reps = (1024, 5) if args.quick else (4096, 9)

    from kopt.runtime import setup_tensorflow

    setup_tensorflow(0, deterministic=not args.no_deterministic)
    import keras
    from omegaconf import OmegaConf

    from kopt.data.augment import build_augment
    from kopt.data.datasets import Data
    from kopt.data.pipeline import Normalizer, batches_per_pass, train_stream
    from kopt.models import build_model

    rng = np.random.default_rng(0)
    y = (np.arange(samples) % 10).astype("int64")
    x = (rng.normal(0, 40, size=(samples, 32, 32, 3)) + 12.0 * y[:, None, None, None] + 100).astype("float32")
    data = Data(x, y, "synthetic", "image", [str(c) for c in range(10)])
    x = Normalizer.fit(x)(x)
    standard = OmegaConf.create({"name": "standard", "pad": 4, "flip": None})
    augment = build_augment(standard, data, 0)
    model_cfg, reg = model_config(args.model)
    steps = batches_per_pass(samples, args.batch_size)

    def stream(aug):  # training's own pipeline: one pass of the endless, resumable stream per epoch
        return train_stream(x, y, args.batch_size, seed=0, augment=aug)

    variants = {}
    for name, aug in (("none", None), ("standard", augment)):
        keras.utils.set_random_seed(0)
        model = build_model(model_cfg, reg, (32, 32, 3), 10)
        model.compile(
            optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        ds = stream(aug)
        model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)  # warm-up: tracing
        variants[name] = {"model": model, "ds": ds, "epoch_s": [], "cpu_s": []}

    for rep in range(reps):
        for name in ("none", "standard") if rep % 2 == 0 else ("standard", "none"):
            v = variants[name]
            t0, c0 = time.perf_counter(), time.process_time()
            v["model"].fit(v["ds"], epochs=1, steps_per_epoch=steps, verbose=0)
            v["epoch_s"].append(time.perf_counter() - t0)
            v["cpu_s"].append(time.process_time() - c0)

    rate = {name: samples / median(v["epoch_s"]) for name, v in variants.items()}
    # each rep's two epochs ran back to back: the median of their ratios is robust to load drifting
    pairs = [a / b for a, b in zip(variants["none"]["epoch_s"], variants["standard"]["epoch_s"])]
    ratio = round(median(pairs), 3)
    # CPU seconds per epoch (this process, all threads): what augmentation costs where model and
    # pipeline share the CPU, and less sensitive than wall time to other processes' load
    cpu_ratio = round(median(variants["none"]["cpu_s"]) / median(variants["standard"]["cpu_s"]), 3)
    pipeline = {
        "none": pipeline_rate(stream(None).take(steps), samples),
        "standard": pipeline_rate(stream(augment).take(steps), samples),
        "standard_plain_keras_layers": pipeline_rate(
            plain_keras_map(x, y, args.batch_size, 0, build_augment(standard, data, 0).layers), samples
        ),
    }  # fresh layers
    model = variants["none"]["model"]
    targets = [
        target("training throughput, augment=standard / augment=none", ratio, ">= 0.90", ratio >= 0.90),
        target("CPU time per epoch, augment=none / augment=standard", cpu_ratio, ">= 0.90", cpu_ratio >= 0.90),
    ]
    write_result(
        "pipeline",
        args.out,
        args.quick,
        targets,
        model={"name": model.name, "config": OmegaConf.to_container(model_cfg), "params": int(model.count_params())},
        requested_model=args.model,
        pipeline="kopt.data.pipeline.train_stream (run_train's)",
        samples_per_epoch=samples,
        batch_size=args.batch_size,
        reps=reps,
        deterministic=not args.no_deterministic,
        epoch_s={name: v["epoch_s"] for name, v in variants.items()},
        pair_ratios=pairs,
        cpu_s={name: v["cpu_s"] for name, v in variants.items()},
        cpu_time_ratio=cpu_ratio,
        train_samples_per_s={k: round(v, 1) for k, v in rate.items()},
        pipeline_only_samples_per_s={k: round(v, 1) for k, v in pipeline.items()},
    )


if __name__ == "__main__":
    main()
