"""The ``model`` group: a registry of plain functional Keras builders, one file per family.

Every builder has the signature ``build(cfg, input_shape, num_classes, reg) -> keras.Model``
where ``cfg`` is the ``model`` node and ``reg`` the ``regularizer`` node (l1, l2, dropout,
batchnorm). Builders check their depth formula first and raise KoptError.
"""

from __future__ import annotations

import importlib

from kopt.errors import KoptError

# model name -> "module:function"; imported lazily (TensorFlow loads with the module)
MODELS: dict[str, str] = {
    "mlp": "kopt.models.mlp:build_mlp",
    "cnn": "kopt.models.cnn:build_cnn",
    "resnet": "kopt.models.resnet:build_resnet",
    "densenet": "kopt.models.densenet:build_densenet",
    "wrn": "kopt.models.wrn:build_wrn",
}


def get_builder(name: str):
    if name not in MODELS:
        raise KoptError(f"model={name}: unknown; allowed: {', '.join(sorted(MODELS))}")
    module, func = MODELS[name].split(":")
    return getattr(importlib.import_module(module), func)


def build_model(cfg, reg, input_shape: tuple[int, ...], num_classes: int):
    return get_builder(cfg.name)(cfg, tuple(input_shape), int(num_classes), reg)
