"""What a model costs: parameters, FLOPs per image, depth and weight memory (``kopt models``)."""

from __future__ import annotations

import numpy as np

from kopt.models import build_model
from kopt.models.flops import count_flops


def nominal_depth(cfg) -> int:
    """Depth as the family names it: the paper's depth, or the weight layers of mlp/cnn."""
    if cfg.name == "mlp":
        return int(cfg.depth) + 1
    if cfg.name == "cnn":
        return int(cfg.depth) * int(cfg.convs_per_block) + (1 if int(cfg.dense) else 0) + 1
    return int(cfg.depth)


def _named_depth(cfg) -> bool:
    return cfg.name != "custom" and "depth" in cfg


def weight_layers(model) -> int:
    """The Dense and Conv layers of a model, nested models included: the depth of model=custom
    and of a plugin's model without a ``depth`` key."""
    from kopt.models.zoo.custom import kernel_layers

    count, kinds = 0, kernel_layers()
    for layer in model.layers:
        count += weight_layers(layer) if hasattr(layer, "layers") else isinstance(layer, kinds)
    return count


def _build_shapes_only(model_cfg, reg, input_shape, num_classes: int):
    """The model with its weights declared but never given values: a StatelessScope defers each
    initializer, and every count here needs shapes only (a large model's initial values are most of
    its build). A builder that makes a variable from a value is built again in full, under the
    names a first build would give."""
    import copy

    import keras
    from keras.src.backend.common import global_state

    from kopt.errors import KoptError

    names = copy.copy(global_state.get_global_attribute("object_name_uids"))
    try:
        with keras.StatelessScope(initialize_variables=False):
            return build_model(model_cfg, reg, input_shape, num_classes)
    except KoptError:
        raise
    except Exception:
        global_state.set_global_attribute("object_name_uids", names)
        return build_model(model_cfg, reg, input_shape, num_classes)


def _deferred() -> list:
    """The variables whose initializer Keras has not run yet."""
    from keras.src.backend.common import global_state

    return list(global_state.get_global_attribute("uninitialized_variables") or [])


def _forget_deferred(before: list) -> None:
    """Drop the variables deferred since ``before``: none is ever used, and Keras would otherwise
    draw their values at the next scope's end (and hold them until clear_session)."""
    from keras.src.backend.common import global_state

    known = {id(v) for v in before}
    kept = [v for v in _deferred() if id(v) in known]
    global_state.set_global_attribute("uninitialized_variables", kept)


def describe(model_cfg, reg, input_shape, num_classes: int) -> dict:
    """Build the model once and measure it."""
    before = _deferred()
    try:
        model = _build_shapes_only(model_cfg, reg, input_shape, num_classes)
        return _measure(model, model_cfg, input_shape, num_classes)
    finally:
        _forget_deferred(before)


def _measure(model, model_cfg, input_shape, num_classes: int) -> dict:
    return {
        "model": model.name,
        "params": int(model.count_params()),
        "trainable_params": int(sum(np.prod(w.shape, dtype=np.int64) for w in model.trainable_weights)),
        "flops": int(count_flops(model)),
        # the zoo's depth as its family names it; the weight layers for custom and plugin models
        "depth": nominal_depth(model_cfg) if _named_depth(model_cfg) else weight_layers(model),
        "weights_bytes": int(sum(np.prod(w.shape, dtype=np.int64) * np.dtype(w.dtype).itemsize for w in model.weights)),
        "input_shape": [int(d) for d in input_shape],
        "classes": int(num_classes),
    }
