import json
import os
from dataclasses import dataclass
from typing import Any

from kopt.errors import KoptError
from kopt.schemas import param, schema

STRATEGIES = ("default", "mirrored", "multi_worker")  # kopt.training.distribute
BACKENDS = ("auto", "tensorflow", "jax", "torch")  # kopt.backend

MONITORS = ("val_accuracy", "val_loss")
TTA_MODES = ("none", "flip", "crop", "flip+crop")  # kopt.tta: test-time augmentation
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")  # kopt.training.switches
PROTOCOLS = ("best_epoch", "fixed")  # kopt.protocol
MAX_THREADS = 1024  # TensorFlow's thread pools crash far above any machine's cores (100000 segfaulted)


@dataclass
class EarlyStoppingConfig:
    enabled: bool
    monitor: str = param(choices=MONITORS)
    patience: int = param(ge=1)
    min_delta: float = param(ge=0)


@schema("trainer", "default")
@dataclass
class TrainerConfig:
    name: str
    epochs: int = param(ge=1)
    batch_size: int = param(ge=1)
    monitor: str = param(choices=MONITORS)
    protocol: str = param(choices=PROTOCOLS)
    early_stopping: EarlyStoppingConfig
    tta: str = param(choices=TTA_MODES)  # kopt.tta: test set and kopt predict only
    checkpoint: bool
    resumable: bool
    deterministic: bool
    intra_threads: int = param(ge=0, le=MAX_THREADS)
    inter_threads: int = param(ge=0, le=MAX_THREADS)
    steps_per_epoch: int | None = param(ge=1)
    steps_per_execution: Any  # auto or an int >= 1: checked in check()
    label_smoothing: float = param(ge=0, lt=1)
    precision: str = param(choices=PRECISIONS)
    verbose: bool
    strategy: str = param(choices=STRATEGIES)
    workers: list[str]
    task_index: int | None = param(ge=0)
    backend: str = param(choices=BACKENDS)

    def check(self, prefix: str) -> None:
        spe = self.steps_per_execution  # `auto`, or an int (Hydra gives 16 as an int, "16" when quoted)
        if spe != "auto" and (isinstance(spe, bool) or not str(spe).isdigit() or int(spe) < 1):
            raise KoptError(f"{prefix}.steps_per_execution={spe!r} is out of range; allowed: auto or an integer >= 1")
        if spe not in ("auto", 1, "1") and self.strategy == "multi_worker":
            raise KoptError(
                f"{prefix}.steps_per_execution={spe} with {prefix}.strategy=multi_worker: Keras' multi-step loop fails "
                "over a multi-worker iterator; allowed: auto (one batch per call there) or 1"
            )

        if self.protocol == "fixed" and self.early_stopping.enabled:
            raise KoptError(
                f"{prefix}.early_stopping.enabled=true with {prefix}.protocol=fixed: early stopping "
                "chooses the epoch on the validation fold; allowed: false, or protocol=best_epoch"
            )

        from kopt.backend import check  # no Keras there

        backend = check(self.backend, f"{prefix}.backend")
        if backend != "tensorflow" and self.strategy == "multi_worker":
            raise KoptError(
                f"{prefix}.strategy=multi_worker is tf.distribute, which runs on the tensorflow backend "
                f"only ({prefix}.backend={backend}); allowed: {prefix}.backend=tensorflow, or "
                f"{prefix}.strategy=default"
            )
        cluster({"strategy": self.strategy, "workers": self.workers, "task_index": self.task_index})


def cluster(tr) -> dict | None:
    """The TF_CONFIG dict for ``multi_worker`` (None for other strategies); KoptError if it is unusable."""
    if tr.get("strategy", "default") != "multi_worker":
        return None
    workers = list(tr.get("workers") or [])
    if workers:
        for w in workers:
            host, _, port = str(w).rpartition(":")
            if not host or not port.isdigit():
                raise KoptError(f"trainer.workers: '{w}' is not host:port")
        index = tr.get("task_index")
        if index is None or not 0 <= int(index) < len(workers):
            raise KoptError(
                f"trainer.task_index={index}: allowed: 0..{len(workers) - 1} (one per trainer.workers entry)"
            )
        return {"cluster": {"worker": [str(w) for w in workers]}, "task": {"type": "worker", "index": int(index)}}
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise KoptError(
            "trainer.strategy=multi_worker needs trainer.workers=[host:port,...] and "
            "trainer.task_index, or a TF_CONFIG environment variable"
        )
    try:
        spec = json.loads(raw)
        spec["cluster"], spec["task"]["type"], int(spec["task"]["index"])
    except (ValueError, KeyError, TypeError):
        raise KoptError("TF_CONFIG is not valid: expected JSON with 'cluster' and 'task' {type, index}") from None
    return spec


def check_tta_flips(mode: str, dataset: str | None, key: str = "trainer.tta") -> None:
    """Refuse mirrored views where the dataset's ``flip`` fact says a mirror changes the class
    (digits, characters), as training augmentation does."""
    from kopt.schemas.dataset import can_flip

    if "flip" in mode and dataset is not None and not can_flip(str(dataset)):
        raise KoptError(
            f"{key}={mode}: dataset={dataset} holds digits or characters, which change class when "
            "mirrored; allowed: none, crop"
        )


def check_tta_fits_dataset(cfg) -> None:
    """Refuse ``trainer.tta`` on a dataset known to be tabular, and flips where they change the
    class, before TensorFlow loads."""
    from kopt.schemas.dataset import dataset_kind

    mode, dataset = str((cfg.get("trainer") or {}).get("tta", "none")), cfg.get("dataset")
    if mode != "none" and dataset is not None and dataset_kind(dataset) == "tabular":
        raise KoptError(
            f"trainer.tta={mode}: flips and crops need images, but dataset={dataset.get('name')} is "
            "tabular; allowed: none"
        )
    if dataset is not None:
        check_tta_flips(mode, dataset.get("name"))
