"""The one Keras model of a SOURCE: its members' saved models, averaged (weights of an ensemble).

Each saved model.keras is kopt's standalone predictor (raw inputs, a ``Normalization`` first).
Its normalisation becomes a ``Rescaling`` with the same statistics (``(x - mean) / std`` as
``x * (1 / std) - mean / std``): Keras keeps a Normalization's statistics as captured tensors,
which the ONNX converter would turn into extra model inputs. The result is plain Keras (loads
with ``safe_mode=True``) and exports to every format ``model.export`` writes.
"""

from __future__ import annotations

import numpy as np

from kopt.errors import KoptError
from kopt.predict.source import Source


def _as_rescaling(layer):
    import keras

    if isinstance(layer, keras.layers.Normalization) and not layer.invert:
        mean = np.asarray(layer.mean, "float64")
        std = np.maximum(np.sqrt(np.asarray(layer.variance, "float64")), keras.config.epsilon())
        return keras.layers.Rescaling((1.0 / std).astype("float32"), (-mean / std).astype("float32"), name=layer.name)
    return layer  # the trained layers themselves, weights and all


def load_member(path, name: str):
    import keras

    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many types for a file it cannot (or will not) rebuild
        first = (str(exc).splitlines() or [""])[0]
        if "safe_mode" in str(exc):  # refused before anything from the file ran
            kind = "a Lambda layer (Python code)" if "Lambda" in first else "Python code"
            raise KoptError(
                f"{path}: refused by safe mode: it holds {kind}, which kopt never runs; no code from it ran"
            ) from None
        raise KoptError(f"{path}: not a loadable Keras model ({type(exc).__name__}: {first[:200]})") from None
    model = keras.models.clone_model(model, clone_function=_as_rescaling)
    inp, out = model.input, model.output
    while isinstance(out, (list, tuple)) and len(out) == 1:  # kopt's model.keras nests its core model
        out = out[0]
    return keras.Model(inp[0] if isinstance(inp, (list, tuple)) else inp, out, name=name)


def build(source: Source):
    """One model: raw inputs in, the (weighted) mean of the members' class probabilities out."""
    import keras

    loaded = [[load_member(f, f"m{i}_{f.stem}") for f in m.files] for i, m in enumerate(source.members)]
    if len(loaded) == 1 and len(loaded[0]) == 1:
        return loaded[0][0]
    shape = loaded[0][0].input_shape[1:]
    for models, member in zip(loaded, source.members):
        for model in models:
            if model.input_shape[1:] != shape:
                raise KoptError(
                    f"{member.run.path}: input shape {model.input_shape[1:]} differs from the first "
                    f"member's {shape}; the members cannot be averaged"
                )
    raw = keras.Input(shape=shape, name="raw_inputs")
    outs = []
    for i, models in enumerate(loaded):
        probs = [model(raw) for model in models]
        outs.append(probs[0] if len(probs) == 1 else keras.layers.Average(name=f"member{i}")(probs))
    weights = np.asarray([m.weight for m in source.members], "float64")
    if len(outs) == 1:
        out = outs[0]
    elif np.allclose(weights, weights[0]):
        out = keras.layers.Average(name="mean")(outs)
    else:
        weights = weights / weights.sum()
        out = keras.layers.Add(name="weighted_mean")(
            [keras.layers.Rescaling(float(w), name=f"weight{i}")(o) for i, (w, o) in enumerate(zip(weights, outs))]
        )
    return keras.Model(raw, out, name="kopt_average")


def predict(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    from kopt.models import predicting

    return np.asarray(predicting.predict(model, x, batch_size), dtype="float32")
