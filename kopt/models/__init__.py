"""The ``model`` group: a registry of plain functional Keras builders. Each model is one module
with its schema and its builder: kopt's own in :mod:`kopt.models.zoo`, a plugin's in its package,
registered with the same decorators (:func:`kopt.schemas.schema` and :func:`builder`).

Every builder has the signature ``build(cfg, input_shape, num_classes, reg) -> keras.Model``
where ``cfg`` is the typed ``model`` config and ``reg`` the typed ``regularizer`` config (l1, l2,
dropout, batchnorm): :func:`build_model` validates the nodes it is given
(kopt.validate.typed_option). Builders check their depth formula first and raise KoptError, and
import Keras inside (validation imports their modules). The facts of a model (its input, its search
preset) live with its schema. This package's own modules (layers, batchnorm, flops, summary,
init_from) are the building blocks and measures the builders share.
"""

from __future__ import annotations

from kopt.registry import Registry

MODELS = Registry("model", ("kopt.models.zoo",))  # model name -> build function
builder = MODELS.register


def get_builder(name: str):
    return MODELS.get(name)


ACTIVATIONS = {"regression": "linear", "multilabel": "sigmoid"}  # the output of any other task: softmax


def build_model(cfg, reg, input_shape: tuple[int, ...], num_classes: int, task: str = "multiclass"):
    """The model, its ``num_classes`` outputs through the task's activation (:data:`ACTIVATIONS`)."""
    from kopt.models.layers import HEAD
    from kopt.validate import typed_option

    cfg, reg = typed_option("model", cfg), typed_option("regularizer", reg)
    before, HEAD["activation"] = HEAD["activation"], ACTIVATIONS.get(task, "softmax")
    try:
        return get_builder(cfg.name)(cfg, tuple(input_shape), int(num_classes), reg)
    finally:
        HEAD["activation"] = before
