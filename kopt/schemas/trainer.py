from dataclasses import dataclass, field
from typing import Optional

from kopt.errors import KoptError
from kopt.schemas import param, schema
from kopt.tta import MODES as TTA_MODES

STRATEGIES = ("default", "mirrored", "multi_worker")  # kopt.training.distribute

MONITORS = ("val_accuracy", "val_loss")
PROTOCOLS = ("best_epoch", "fixed")  # kopt.protocol
MAX_THREADS = 1024  # TensorFlow's thread pools crash far above any machine's cores (100000 segfaulted)


@dataclass
class EarlyStoppingConfig:
    enabled: bool = False
    monitor: str = param("val_loss", choices=MONITORS)
    patience: int = param(10, ge=1)
    min_delta: float = param(0.0, ge=0)


@schema("trainer", "default")
@dataclass
class TrainerConfig:
    name: str = "default"
    epochs: int = param(30, ge=1)
    batch_size: int = param(64, ge=1)
    monitor: str = param("val_accuracy", choices=MONITORS)
    protocol: str = param("best_epoch", choices=PROTOCOLS)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    tta: str = param("none", choices=TTA_MODES)  # kopt.tta: test set and kopt predict only
    checkpoint: bool = True
    resumable: bool = True
    deterministic: bool = True
    intra_threads: int = param(0, ge=0, le=MAX_THREADS)
    inter_threads: int = param(0, ge=0, le=MAX_THREADS)
    steps_per_epoch: Optional[int] = param(None, ge=1)
    verbose: bool = False
    strategy: str = param("default", choices=STRATEGIES)
    workers: list[str] = param(factory=list)
    task_index: Optional[int] = param(None, ge=0)

    def check(self, prefix: str) -> None:
        from kopt.training.distribute import cluster  # no TensorFlow there

        if self.protocol == "fixed" and self.early_stopping.enabled:
            raise KoptError(f"{prefix}.early_stopping.enabled=true with {prefix}.protocol=fixed: early stopping "
                            "chooses the epoch on the validation fold; allowed: false, or protocol=best_epoch")

        cluster({"strategy": self.strategy, "workers": self.workers, "task_index": self.task_index})
