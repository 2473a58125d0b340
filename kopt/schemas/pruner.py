"""The ``pruner`` group: Optuna pruners, fed the monitored validation metric after every epoch. The key
every pruner has; each option's own keys live with its builder, one module per option in
kopt/tune/planning/pruners/ (docs/architecture.md)."""

from dataclasses import dataclass


@dataclass
class PrunerConfig:
    name: str
