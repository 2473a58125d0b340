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


def describe(model_cfg, reg, input_shape, num_classes: int) -> dict:
    """Build the model once and measure it."""
    model = build_model(model_cfg, reg, input_shape, num_classes)
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
