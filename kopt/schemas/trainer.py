import json
import os
from dataclasses import dataclass
from typing import Any

from kopt.errors import KoptError
from kopt.schemas import param, schema

STRATEGIES = ("default", "mirrored", "multi_worker")  # kopt.training.distribute
BACKENDS = ("auto", "tensorflow", "jax", "torch")  # kopt.backend

TTA_MODES = ("none", "flip", "crop", "flip+crop")  # kopt.tta: test-time augmentation
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")  # kopt.training.switches
PROTOCOLS = ("best_epoch", "fixed")  # kopt.protocol
MAX_THREADS = 1024  # TensorFlow's thread pools crash far above any machine's cores (100000 segfaulted)


@dataclass
class EarlyStoppingConfig:
    enabled: bool
    monitor: str  # auto, val_loss or val_<metric> (kopt.schemas.metrics): checked in TrainerConfig.check
    patience: int = param(ge=1)
    min_delta: float = param(ge=0)


@schema("trainer", "default")
@dataclass
class TrainerConfig:
    name: str
    epochs: int = param(ge=1)
    batch_size: int = param(ge=1)
    monitor: str  # auto, val_loss or val_<metric> of trainer.metrics (kopt.schemas.metrics): checked in check()
    metrics: list[str] | None  # null: the task's defaults (kopt.schemas.metrics.DEFAULTS)
    loss: Any  # null: the task's loss; or {_target_: yours, key: value} (docs/custom.md)
    class_weight: str | None = param(choices=("balanced",))  # classes weighted against imbalance
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
    callbacks: list[Any]  # Keras callbacks of yours, [{_target_: ..., key: value}]: check_callbacks

    def check(self, prefix: str) -> None:
        from kopt.schemas import metrics

        metrics.check_names(self.metrics, f"{prefix}.metrics")
        metrics.check_monitor(self.monitor, self.metrics, "auto", f"{prefix}.monitor")
        metrics.check_monitor(self.early_stopping.monitor, self.metrics, "auto", f"{prefix}.early_stopping.monitor")
        check_loss(self.loss, f"{prefix}.loss", look=False)
        check_callbacks(self.callbacks, f"{prefix}.callbacks", look=False)
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

    def check_machine(self, prefix: str) -> None:
        check_loss(self.loss, f"{prefix}.loss")
        check_callbacks(self.callbacks, f"{prefix}.callbacks")


# Keras callbacks that would fight one of kopt's own: the switch that does their job in kopt
KOPT_DOES = {
    "ModelCheckpoint": "trainer.checkpoint (the best epoch's model.keras) and trainer.resumable (every epoch)",
    "BackupAndRestore": "trainer.resumable=true (every epoch checkpointed; continue with kopt train resume=<run dir>)",
    "EarlyStopping": "trainer.early_stopping.enabled=true (and its monitor, patience, min_delta)",
    "TerminateOnNaN": "none needed (kopt always stops a run whose loss is NaN)",
}


def callback_conflict(name: str, key: str) -> None:
    """One line for a callback named ``name`` that kopt does itself (a subclass's base name counts too)."""
    if name in KOPT_DOES:
        raise KoptError(f"{key}={name}: kopt does this itself; use {KOPT_DOES[name]}")


def check_callbacks(entries, key: str, look: bool = True) -> None:
    """Each entry of trainer.callbacks: a mapping with a _target_ the trust rule allows (kopt.targets),
    not one that fights kopt's own callbacks; its other keys are the callback's arguments. ``look``:
    its module is on the import path too (a fact of this machine; nothing is imported)."""
    from kopt import targets

    for i, entry in enumerate(entries or []):
        where = f"{key}[{i}]"
        if not isinstance(entry, dict) or "_target_" not in entry:
            raise KoptError(
                f"{where}={entry!r}: not a callback; allowed: a mapping with _target_, e.g. "
                "{_target_: keras.callbacks.ReduceLROnPlateau, patience: 2}"
            )
        bad = [k for k in entry if str(k).startswith("_") and k != "_target_"]
        if bad:
            raise KoptError(f"{where}.{bad[0]}: not supported; allowed: _target_ and the callback's arguments")
        callback_conflict(str(entry["_target_"]).rsplit(".", 1)[-1], f"{where}._target_")
        targets.check(entry["_target_"], f"{where}._target_", look=look)


def check_loss(entry, key: str, look: bool = True) -> None:
    """trainer.loss: null (the task's loss) or a mapping with a _target_ the trust rule allows
    (``look``: its module is on the import path too)."""
    from kopt import targets

    if entry is None:
        return
    if not isinstance(entry, dict) or "_target_" not in entry:
        raise KoptError(
            f"{key}={entry!r}: not a loss; allowed: null (the task's loss) or a mapping with _target_, e.g. "
            "{_target_: mylosses.focal, gamma: 2.0}"
        )
    bad = [k for k in entry if str(k).startswith("_") and k != "_target_"]
    if bad:
        raise KoptError(f"{key}.{bad[0]}: not supported; allowed: _target_ and the loss's arguments")
    targets.check(entry["_target_"], f"{key}._target_", look=look)


def import_loss(entry, key: str = "trainer.loss._target_"):
    """trainer.loss's _target_ imported (kopt.targets) and checked against its keys: a class takes
    them, a function ``(y_true, y_pred, **keys)`` after the two tensors. Returns (callable, keys)."""
    import inspect

    from kopt import targets

    entry = {str(k): v for k, v in dict(entry).items()}
    target = entry.pop("_target_")
    obj = targets.resolve(target, key, entry if isinstance(targets.resolve(target, key), type) else None)
    if not isinstance(obj, type):
        try:
            inspect.signature(obj).bind(None, None, **entry)
        except TypeError as exc:
            raise KoptError(
                f"{key}={target}: {exc}; a loss function takes (y_true, y_pred) and then its keys; "
                f"kopt passes: {', '.join(entry) or 'none'}"
            ) from None
        except ValueError:  # no signature to read (a builtin): called as it is
            pass
    return obj, entry


def check_callback_class(cls, key: str) -> None:
    """A callback class of yours that subclasses one kopt does itself is refused like that one."""
    for base in getattr(cls, "__mro__", ()):
        if base.__module__.startswith("keras") and base.__name__ in KOPT_DOES:
            callback_conflict(base.__name__, key)


def import_callbacks(trainer) -> None:
    """Each callback's _target_ imported and checked against its arguments (one line, before any
    run dir); last in a config's validation, as it may load Keras."""
    from kopt import targets

    for i, entry in enumerate(trainer.callbacks or []):
        key = f"trainer.callbacks[{i}]._target_"
        kwargs = {str(k): v for k, v in entry.items() if k != "_target_"}
        check_callback_class(targets.resolve(entry["_target_"], key, kwargs), key)


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
