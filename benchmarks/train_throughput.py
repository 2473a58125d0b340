"""P2: training throughput of ResNet-20 on CIFAR-shaped (32x32x3) synthetic data.

kopt's training path (``kopt.training.run.run_train``: its model builder with fused batch norm,
tf.data pipeline, callbacks and run dir) against a plain Keras ``model.fit`` on numpy arrays of
the same model written with Keras' own layers (kopt's ResNet-20 with ``keras.layers.
BatchNormalization``; SGD with momentum, same batch size, same train/val sizes; the variant
``plain_with_kopt_layers`` gives the plain side kopt's layers too), alternating kopt/plain and
plain/kopt in one process. Per epoch, the training phase is timed (epoch begin to the start of
validation); the first epoch of a run (tracing) is dropped. The machine is shared, and other
processes only ever slow a run down, so each side is scored two ways: by its best epoch over all
runs (wall clock), and by its median images per CPU-second of the process (CPU time, which
time-slicing barely moves but which cannot see idle cores). Achieved GFLOP/s = images/s x 3 x
the forward FLOPs of ResNet-20 (forward + backward ~ 3x forward), as a fraction of a TensorFlow
fp32 matmul peak measured the same two ways on 2048^2 and 3072^2 matmuls timed before every run
in the same process. Targets (issue 21): kopt / plain >= 1.5, kopt >= 70% of the matmul peak.

Thread counts are fixed when TensorFlow starts, so each variant (threads, batch size,
determinism) runs in its own process. ``--quick`` runs the default variant only; the default
run adds the variants in VARIANTS; ``--variants`` picks some. The results JSON lists every
variant, and the .md beside it says what was tried.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, kopt_env, median, parser
from train_throughput_report import load_average, report, rereport, summarize

# name -> settings; "default" is the headline (kopt's defaults but op determinism off on both
# sides, so both run the same kernels; "deterministic" measures kopt's default against it)
VARIANTS = {
    "default": {"batch": 128, "intra": 0, "inter": 0, "deterministic": False},
    "deterministic": {"batch": 128, "intra": 0, "inter": 0, "deterministic": True},
    "intra2_inter1": {"batch": 128, "intra": 2, "inter": 1, "deterministic": False},
    "intra1_inter1": {"batch": 128, "intra": 1, "inter": 1, "deterministic": False},
    "intra2_inter2": {"batch": 128, "intra": 2, "inter": 2, "deterministic": False},
    "batch64": {"batch": 64, "intra": 0, "inter": 0, "deterministic": False},
    "batch256": {"batch": 256, "intra": 0, "inter": 0, "deterministic": False},
    "plain_with_kopt_layers": {"batch": 128, "intra": 0, "inter": 0, "deterministic": False, "plain_model": "kopt"},
    "tfdata_private_pool": {
        "batch": 128,
        "intra": 0,
        "inter": 0,
        "deterministic": False,
        "tf_data": {"private_threadpool_size": 1, "max_intra_op_parallelism": 1},
    },
}


# ---------------------------------------------------------------------------------------------
# one variant, in its own process


def matmul_peak(tf, sizes=(2048, 3072), reps: int = 3) -> tuple[float, float]:
    """fp32 n x n matmuls (2 n^3 FLOPs each) through a tf.function: the best GFLOP/s of wall time,
    and the median GFLOP per CPU-second of the process (all its threads)."""
    f = tf.function(lambda a, b: tf.matmul(a, b))
    best, per_cpu = 0.0, []
    for n in sizes:
        a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
        f(a, b).numpy()
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            f(a, b).numpy()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            best = max(best, 2 * n**3 / wall / 1e9)
            per_cpu.append(2 * n**3 / max(cpu, 1e-9) / 1e9)
    return best, median(per_cpu)


def epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Per epoch: wall and process-CPU seconds of the training phase (epoch begin -> validation
        begin), and wall seconds of the whole epoch (validation and the other callbacks included)."""

        def __init__(self):
            super().__init__()
            self.train_s, self.train_cpu_s, self.epoch_s = [], [], []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0, self.c0, self.t_train, self.c_train = time.perf_counter(), time.process_time(), None, None

        def on_test_begin(self, logs=None):
            if getattr(self, "t_train", 1) is None:
                self.t_train, self.c_train = time.perf_counter() - self.t0, time.process_time() - self.c0

        def on_epoch_end(self, epoch, logs=None):
            elapsed = time.perf_counter() - self.t0
            self.train_s.append(self.t_train or elapsed)
            self.train_cpu_s.append(self.c_train or time.process_time() - self.c0)
            self.epoch_s.append(elapsed)

    return EpochTimer()


def tf_data_options(settings: dict):
    """Wrap kopt's pipelines (the training stream and the evaluation batches) so every dataset gets
    the given tf.data threading options."""
    import kopt.data.pipeline as pipeline

    def wrapped(original):
        def make(*args, **kwargs):
            import tensorflow as tf

            options = tf.data.Options()
            for key, value in settings.items():
                setattr(options.threading, key, value)
            return original(*args, **kwargs).with_options(options)

        return make

    pipeline.train_stream = wrapped(pipeline.train_stream)
    pipeline.make_dataset = wrapped(pipeline.make_dataset)


def run_variant(settings: dict, rounds: int, epochs: int, size: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from kopt.compose import compose_job
    from kopt.paths import config_dir
    from kopt.runtime import setup_tensorflow

    tf = setup_tensorflow(0, settings["deterministic"], settings["intra"], settings["inter"])
    import keras
    import numpy as np

    from kopt.models import build_model
    from kopt.models.batchnorm import plain_keras_copy
    from kopt.models.flops import count_flops
    from kopt.training.run import run_train

    if settings.get("tf_data"):
        tf_data_options(settings["tf_data"])
    overrides = [
        "model=resnet20",
        "dataset=synthetic",
        "dataset.shape=[32,32,3]",
        f"dataset.size={size}",
        "optimizer=sgd",
        "optimizer.schedule.name=constant",
        f"trainer.epochs={epochs}",
        f"trainer.batch_size={settings['batch']}",
        f"trainer.deterministic={settings['deterministic']}",
        f"trainer.intra_threads={settings['intra']}",
        f"trainer.inter_threads={settings['inter']}",
    ]
    cfg = compose_job("config", overrides, [config_dir()])
    flops = count_flops(build_model(cfg.model, cfg.regularizer, (32, 32, 3), 10))
    keras.backend.clear_session()

    def kopt_side(workdir: Path):
        timer = epoch_timer()
        run = workdir / f"run{time.perf_counter_ns()}"
        run_train(cfg, run, callbacks_factory=lambda fold, n: [timer], quiet=True)
        with np.load(run / "splits.npz") as z:
            n_train, n_val = len(z["train_0"]), len(z["val_0"])
        sizes.update(train=n_train, val=n_val)
        return timer, n_train

    def plain_side():
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(sizes["train"], 32, 32, 3)).astype("float32")
        y = rng.integers(0, 10, sizes["train"])
        xv = rng.normal(size=(sizes["val"], 32, 32, 3)).astype("float32")
        yv = rng.integers(0, 10, sizes["val"])
        model = build_model(cfg.model, cfg.regularizer, (32, 32, 3), 10)
        if settings.get("plain_model", "keras") == "keras":
            model = plain_keras_copy(model)  # Keras' own BatchNormalization, as a plain Keras user has it
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        timer = epoch_timer()
        model.fit(
            x, y, batch_size=settings["batch"], epochs=epochs, validation_data=(xv, yv), callbacks=[timer], verbose=0
        )
        keras.backend.clear_session()
        return timer, len(x)

    sizes: dict[str, int] = {}
    result = {"kopt": [], "plain": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(rounds):
            order = ("kopt", "plain") if i % 2 == 0 else ("plain", "kopt")
            if "train" not in sizes:  # kopt's split decides the sizes the plain side copies
                order = ("kopt", "plain")
            for side in order:
                peak, peak_per_cpu = matmul_peak(tf)
                timer, n = kopt_side(Path(tmp)) if side == "kopt" else plain_side()
                ips = n / median(timer.train_s[1:])
                result[side].append(
                    {
                        "round": i,
                        "images_per_s": ips,
                        "peak_gflops": peak,
                        "peak_gflop_per_cpu_s": peak_per_cpu,
                        "train_s": timer.train_s,
                        "train_cpu_s": timer.train_cpu_s,
                        "epoch_s": timer.epoch_s,
                    }
                )
                print(
                    f"  {side:5s} round {i}: {ips:7.1f} images/s ({n / median(timer.train_cpu_s[1:]):6.1f} per "
                    f"CPU-s), matmul {peak:6.1f} GFLOP/s ({peak_per_cpu:6.1f} per CPU-s)",
                    file=sys.stderr,
                    flush=True,
                )
    return {
        "settings": settings,
        "flops_per_image": flops,
        "train_images": sizes["train"],
        "val_images": sizes["val"],
        "rounds": rounds,
        "epochs": epochs,
        **result,
    }


# ---------------------------------------------------------------------------------------------
# the driver


def spawn(name: str, settings: dict, rounds: int, epochs: int, size: int, timeout: int) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--variant",
        json.dumps(settings),
        f"--rounds={rounds}",
        f"--epochs={epochs}",
        f"--size={size}",
    ]
    print(f"variant {name}: {settings}", flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=kopt_env(), text=True, stdout=subprocess.PIPE, stderr=None, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"name": name, "settings": settings, "error": f"timed out after {timeout}s"}
    if proc.returncode != 0 or not proc.stdout.strip():
        return {"name": name, "settings": settings, "error": f"exit {proc.returncode}"}
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"name": name, **doc, "summary": summarize(doc), "elapsed_s": round(time.perf_counter() - t0, 1)}


def main() -> None:
    p = parser(__doc__)
    p.add_argument(
        "--variants",
        nargs="*",
        help=f"variants to run (default: all; --quick: default); choices: {', '.join(VARIANTS)}",
    )
    p.add_argument("--rounds", type=int, default=None, help="kopt/plain pairs per variant (default 3)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run, the first is dropped (default 4)")
    p.add_argument(
        "--size",
        type=int,
        default=None,
        help="synthetic images (64%% train after the test and val splits; default 1600)",
    )
    p.add_argument("--timeout", type=int, default=3600, help="seconds per variant")
    p.add_argument("--variant", help=argparse_hidden())
    p.add_argument("--rereport", type=Path, help="rebuild the summaries and .md of this results JSON, run nothing")
    args = p.parse_args()
    if args.rereport:
        rereport(args.rereport)
        return
    args.rounds = args.rounds or 3
    args.epochs = args.epochs or 4
    args.size = args.size or 1600
    if args.variant:
        print(json.dumps(run_variant(json.loads(args.variant), args.rounds, args.epochs, args.size)))
        return
    names = args.variants or (["default"] if args.quick else list(VARIANTS))
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        p.error(f"unknown variant {unknown[0]}; choices: {', '.join(VARIANTS)}")
    args.load_before = load_average()
    variants = [spawn(n, VARIANTS[n], args.rounds, args.epochs, args.size, args.timeout) for n in names]
    args.load_after = load_average()
    report(variants, args, args.out)


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
