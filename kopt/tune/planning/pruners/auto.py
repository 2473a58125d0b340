"""``pruner=auto`` (the default): the pruner chosen from the epochs and folds of a trial. Its schema
only: the plan replaces it by the option it chooses (kopt.tune.planning.auto)."""

from dataclasses import dataclass

from kopt.schemas import schema
from kopt.schemas.pruner import PrunerConfig


@schema("pruner", "auto")
@dataclass
class AutoPruner(PrunerConfig):
    """Only ``name``: the rule is in kopt/tune/planning/auto.py."""
