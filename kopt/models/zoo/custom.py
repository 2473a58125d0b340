"""``model=custom``: your own Keras model, named by ``model._target_`` (Hydra's convention).

The target (resolved through :mod:`kopt.targets`, the one rule for what a ``_target_`` may name)
is called as ``target(input_shape=..., num_outputs=..., **your keys)`` and returns an uncompiled
``keras.Model`` with one output of ``num_outputs`` logits. kopt wraps it as it does its own
models: the training fold's normalisation is applied to the data (and saved in front of the model
in ``model.keras``), and a softmax follows the logits. A model that already ends in softmax is
used as it is (kopt adds no second one); one that ends in sigmoid (or another squashing
activation) is refused: kopt's loss is the softmax cross-entropy over ``num_outputs`` classes.

``regularizer=l1|l2|l1l2`` puts its penalty on the kernel of every Dense and Conv layer of your
model that has no kernel regulariser of its own; ``regularizer.dropout`` and ``batchnorm`` are the
zoo builders' own and are not applied (dropout above 0 is refused before the run).
"""

from __future__ import annotations

from dataclasses import dataclass

from kopt.errors import KoptError
from kopt.models import builder
from kopt.schemas import schema

FINAL_ACTIVATIONS = ("softmax", "sigmoid", "log_softmax", "tanh", "softplus", "relu")


@schema("model", "custom", input="any")
@dataclass
class CustomModelConfig:
    """Your own Keras model: ``_target_`` names the function or class that builds it; every other
    key of the node is passed to it as a keyword argument (``params``, filled by kopt.validate: this
    schema is open to keys of your own)."""

    name: str
    _target_: str | None
    init: str | None  # a finished run dir whose model.keras gives the starting weights (kopt.models.init_from)

    OPEN = True  # keys beyond the fields are the builder's own, collected in ``params``
    OWN_KEYS = ("name", "_target_", "init")  # kopt's keys, never passed to the builder

    def check(self, prefix: str) -> None:
        from kopt import targets

        if self._target_ is None:
            raise KoptError(
                f"{prefix}._target_: missing; model=custom needs the function that builds your model, "
                f"e.g. {prefix}._target_=mynets.build"
            )
        for key in getattr(self, "params", {}):
            if key in ("input_shape", "num_outputs") or key.startswith("_"):
                what = "is set by kopt (from the dataset)" if not key.startswith("_") else "is not supported"
                raise KoptError(f"{prefix}.{key}: {what}; allowed: _target_ and keys of your own")
        targets.check(self._target_, f"{prefix}._target_", look=False)  # nothing is imported here

    def check_machine(self, prefix: str) -> None:
        from kopt import targets

        targets.check(self._target_, f"{prefix}._target_")  # your module is on the import path (not imported)

    def check_config(self, cfg, machine: bool = True) -> None:
        """After every other check of the config (kopt.schemas.model.check_model_against_config):
        regularizer.dropout (a zoo builders' key) is refused, and the target is imported and checked
        against the keys given (one line, before any run dir; not for print-only command lines,
        which never import your code)."""
        reg = cfg.get("regularizer")
        if reg is not None and float(reg.get("dropout") or 0.0) > 0:
            raise KoptError(
                f"regularizer.dropout={reg.get('dropout')}: not applied to model=custom; allowed: 0 "
                "(put Dropout layers in your model, with a key of your own to search its rate)"
            )
        if machine:
            target_callable(self)


def kernel_layers() -> tuple[type, ...]:
    """The Keras layers that hold a kernel a regularizer applies to (Dense, Conv, ...)."""
    import keras

    return (
        keras.layers.Dense,
        keras.layers.EinsumDense,
        keras.layers.Conv1D,
        keras.layers.Conv2D,
        keras.layers.Conv3D,
        keras.layers.Conv1DTranspose,
        keras.layers.Conv2DTranspose,
        keras.layers.Conv3DTranspose,
        keras.layers.DepthwiseConv1D,
        keras.layers.DepthwiseConv2D,
    )


def target_callable(cfg):
    """The builder ``model._target_`` names, checked against your keys (kopt.targets)."""
    from kopt import targets

    return targets.resolve(cfg._target_, "model._target_", {"input_shape": (1,), "num_outputs": 2, **cfg.params})


def _final_activation(net) -> str | None:
    """The activation the model's output goes through last, by name (None: linear or unknown)."""
    import keras

    layer = net.layers[-1] if getattr(net, "layers", None) else None
    history = getattr(net.outputs[0], "_keras_history", None) if getattr(net, "outputs", None) else None
    if history is not None:
        layer = history[0]
    if layer is None:
        return None
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None) if activation is not None else None
    return name if name in FINAL_ACTIVATIONS else None


def _walk(layer):
    for sub in getattr(layer, "layers", []) or []:
        yield sub
        yield from _walk(sub)


def add_kernel_penalty(net, reg) -> int:
    """``reg``'s L1/L2 penalty on every Dense/Conv kernel of ``net`` that has none; how many."""
    from kopt.models.layers import kernel_regularizer

    penalty = kernel_regularizer(reg)
    if penalty is None:
        return 0
    count, kinds = 0, kernel_layers()
    for layer in _walk(net):
        kernel = getattr(layer, "kernel", None) if isinstance(layer, kinds) else None
        if kernel is None or getattr(layer, "kernel_regularizer", None) is not None:
            continue
        layer.kernel_regularizer = penalty  # (saved with the layer's config)
        kernel.regularizer = penalty  # what Keras' losses read
        count += 1
    return count


@builder("custom")
def build_custom(cfg, input_shape, num_classes, reg):
    import keras

    from kopt.models.layers import HEAD

    fn = target_callable(cfg)
    where = f"model._target_={cfg._target_}"
    net = fn(input_shape=tuple(input_shape), num_outputs=int(num_classes), **cfg.params)
    if not isinstance(net, keras.Model):
        raise KoptError(
            f"{where} returned {type(net).__name__}, not a keras.Model; allowed: an uncompiled keras.Model "
            "(functional, Sequential or subclassed)"
        )
    inputs = keras.Input(shape=tuple(input_shape), name="inputs")
    try:
        logits = net(inputs)
    except Exception as exc:
        reason = " ".join(str(exc).split())[:300]
        raise KoptError(f"{where}: its model cannot take inputs of shape {tuple(input_shape)} ({reason})") from None
    if isinstance(logits, (list, tuple, dict)):
        raise KoptError(
            f"{where} returned a model with {len(logits)} outputs; allowed: one output of num_outputs logits"
        )
    shape = tuple(logits.shape)
    if len(shape) != 2 or shape[-1] != num_classes:
        raise KoptError(
            f"{where} returned a model whose output has shape {shape}; allowed: (batch, num_outputs) = "
            f"(None, {num_classes}), the logits of the {num_classes} classes"
        )
    final = _final_activation(net)
    activation = HEAD["activation"]  # the task's (kopt.models.build_model): softmax, sigmoid or linear
    if activation != "softmax":
        if final not in (None, activation):
            raise KoptError(
                f"{where} returned a model that ends in {final}; allowed: outputs with no activation (kopt adds "
                f"the task's {activation}) or {activation}"
            )
        add_kernel_penalty(net, reg)
        if final is None and activation != "linear":
            logits = keras.layers.Activation(activation, name="predictions")(logits)
        return keras.Model(inputs, logits, name=f"custom_{net.name}")
    if final not in (None, "softmax"):
        raise KoptError(
            f"{where} returned a model that ends in {final}; allowed: logits (no activation; kopt adds the "
            "softmax) or softmax"
        )
    add_kernel_penalty(net, reg)
    outputs = logits if final == "softmax" else keras.layers.Activation("softmax", name="predictions")(logits)
    return keras.Model(inputs, outputs, name=f"custom_{net.name}")
