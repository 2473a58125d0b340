"""A k-fold run's compiled model, kept from fold to fold (:class:`KeptModel`).

Keras traces a model's train and test steps once per model: a run that built and compiled a new
model for each fold traced them again for each fold, 0.3-0.4 CPU s a fold on the 2-core VM (40% of a
fold of a small model). Each fold still builds its own model and optimizer, with the fold's seed, for
their initial values only; these are copied into the kept model's variables (weights, batch-norm
statistics, dropout seed states) and its optimizer's (step count, slots, EMA, accumulated
gradients), and the kept model trains the fold (fit resets its metrics each epoch). So a fold starts
from exactly the state a fresh model would have, and a resumed run (which builds fresh) goes on
exactly as the uninterrupted one (tests/test_model_reuse.py compares them to the bit, on every
model family of the zoo).

Only what the traced steps do not bake in may differ between folds: the kept model is used where the
fold's steps per epoch and steps per execution (an optimizer schedule's length is built from the
former) are the kept model's, on TensorFlow without a distribution strategy, and where every
variable has the kept one's shape and dtype; anywhere else the fold's fresh model is compiled as
before and kept instead.
"""

from __future__ import annotations


def _layout(variables) -> list[tuple]:
    return [(tuple(v.shape), str(v.dtype)) for v in variables]


class KeptModel:
    def __init__(self) -> None:
        self.model = None
        self.key: tuple | None = None

    def take(self, fresh, optimizer, key: tuple):
        """The kept model holding ``fresh``'s and ``optimizer``'s initial values (``optimizer``: the
        fold's own, not built yet), or None where it cannot stand for them (then compile ``fresh``)."""
        kept = self.model
        if kept is None or key != self.key or _layout(kept.variables) != _layout(fresh.variables):
            return None
        for target, value in zip(kept.variables, fresh.variables):
            target.assign(value)
        optimizer.build(kept.trainable_variables)  # (its EMA, if any, starts from the values just copied)
        if _layout(kept.optimizer.variables) != _layout(optimizer.variables):
            self.model = None  # (its weights are the fold's now, its optimizer not: never used again)
            return None
        for target, value in zip(kept.optimizer.variables, optimizer.variables):
            target.assign(value)
        return kept

    def keep(self, model, key: tuple) -> None:
        self.model, self.key = model, key


def reusable(strategy) -> bool:
    """Whether this run may keep its model from fold to fold: Keras on TensorFlow (whose traced steps
    are the model's tf.functions), no distribution strategy (whose replicas hold copies)."""
    import keras

    return strategy is None and keras.backend.backend() == "tensorflow"
