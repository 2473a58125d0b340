"""The ``pruner`` group: one module per pruner, holding its schema and its builder, registered here with
the signature ``make(cfg) -> optuna.pruners.BasePruner``, where ``cfg`` is the pruner's typed schema
object. With its YAML in ``configs/pruner/`` that is the whole option (docs/architecture.md); the
registries import every module here. Modules here import no Optuna at module level (validation imports
them): a builder imports it inside. ``pruner=auto`` has no builder: the plan replaces it by the option
it chooses (kopt.tune.planning.auto).

Pruners see the monitored validation metric once per epoch, at step ``fold * epochs + epoch``,
so the step keeps growing across the folds of a k-fold trial; the Wilcoxon pruner, a paired test
made for independent instances, sees one value per finished fold, at step ``fold``
(kopt.tune.running.trial.FoldPruningCallback)."""

from __future__ import annotations

from kopt.registry import Registry

PRUNERS = Registry("pruner", ("kopt.tune.planning.pruners",))
pruner = PRUNERS.register


def warmup_steps(cfg) -> int:
    """Optuna's n_warmup_steps for ``n_warmup_steps`` epochs that are never pruned: steps count
    epochs from 1 (kopt.tune.running.trial.PruningCallback), and Optuna may prune at step == n_warmup_steps."""
    return int(cfg.n_warmup_steps) + 1


def build_pruner(node):
    """The Optuna pruner of a plan's pruner node (or of its typed schema object)."""
    from kopt.tune.planning.tuners import typed_plan_option

    cfg = typed_plan_option("pruner", node)
    return PRUNERS.get(cfg.name)(cfg)
