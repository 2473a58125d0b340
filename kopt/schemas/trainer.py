from dataclasses import dataclass
from typing import Optional

from kopt.errors import KoptError
from kopt.schemas import param, schema

STRATEGIES = ("default", "mirrored", "multi_worker")  # kopt.training.distribute

MONITORS = ("val_accuracy", "val_loss")
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
    checkpoint: bool
    resumable: bool
    deterministic: bool
    intra_threads: int = param(ge=0, le=MAX_THREADS)
    inter_threads: int = param(ge=0, le=MAX_THREADS)
    steps_per_epoch: Optional[int] = param(ge=1)
    verbose: bool
    strategy: str = param(choices=STRATEGIES)
    workers: list[str]
    task_index: Optional[int] = param(ge=0)

    def check(self, prefix: str) -> None:
        from kopt.training.distribute import cluster  # no TensorFlow there

        if self.protocol == "fixed" and self.early_stopping.enabled:
            raise KoptError(f"{prefix}.early_stopping.enabled=true with {prefix}.protocol=fixed: early stopping "
                            "chooses the epoch on the validation fold; allowed: false, or protocol=best_epoch")

        cluster({"strategy": self.strategy, "workers": self.workers, "task_index": self.task_index})
