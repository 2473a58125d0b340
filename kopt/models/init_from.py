"""``model.init``: start a run from the weights of a finished run (the second stage of a fine-tune).

The configuration was checked before the run dir was made (:func:`kopt.schemas.model.check_model_init`:
a completed run of the same architecture, on the same dataset, split and seed). Here, in the run:

* :func:`check_splits`: the source's ``splits.npz`` holds this run's test set (and, when the source
  saved one model per fold, this run's very folds), so the test score stays one on examples the
  starting weights never trained on;
* :func:`load_weights`: the source's ``model.keras`` (or ``model_fold<i>.keras``) is loaded with
  Keras' ``safe_mode`` (no Python code from the file runs), and its weights are copied into the
  model just built, layer by layer, matched by the layers' names inside the model (the nesting of
  ``keras.applications`` bases included). Only weights travel: the new model keeps its own
  ``trainable`` flags, its optimizer starts afresh (``optimizer.lr`` of this run). A layer of either
  model without its counterpart, or a weight of another shape, is one line naming it.

The normalisation in front of a saved model (the source's training fold's statistics) is not
loaded: this run standardises with its own fold's, which are the same when the folds are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kopt.errors import KoptError
from kopt.schemas.model import init_model_files


def _where(init: str) -> str:
    return f"model.init={init}"


def check_splits(init: str, splits) -> None:
    """Refuse (one line, the run marked failed) a source whose test set, or whose folds when it saved
    one model per fold, are not this run's."""
    from kopt.rundir import load_run

    run = load_run(init)
    saved = run.splits
    if not np.array_equal(np.sort(saved["test"]), np.sort(splits.test)):
        raise KoptError(
            f"{_where(init)}: its test set ({len(saved['test'])} examples) is not this run's ({len(splits.test)}), so "
            "this run's test set would hold examples those weights were trained on; allowed: the same dataset, "
            "split and seed as that run"
        )
    if len(run.folds) > 1:
        same = len(splits.folds) == len(run.folds) and all(
            np.array_equal(saved[f"train_{i}"], tr) and np.array_equal(saved[f"val_{i}"], va)
            for i, (tr, va) in enumerate(splits.folds)
        )
        if not same:
            raise KoptError(
                f"{_where(init)}: it saved one model per fold ({len(run.folds)} folds), and this run's folds are "
                "not its; allowed: the same dataset, split and seed as that run, or a source with one model"
            )


def _load(path: Path, init: str):
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many types for a file it cannot (or will not) rebuild
        first = (str(exc).splitlines() or [""])[0]
        if "safe_mode" in str(exc):
            raise KoptError(
                f"{_where(init)}: {path} is refused by safe mode: it holds Python code, which kopt never runs; "
                "no code from it ran"
            ) from None
        raise KoptError(
            f"{_where(init)}: {path} is not a loadable Keras model ({type(exc).__name__}: {first[:200]})"
        ) from None


def _core(saved):
    """The trained model inside a saved model.keras (raw inputs -> normalization -> the model)."""
    import keras

    inner = [layer for layer in saved.layers if isinstance(layer, keras.Model)]
    return inner[-1] if inner else saved


def weighted_layers(root, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], object]:
    """The layers holding weights, keyed by their names from ``root`` down (a nested model, such as
    a keras.applications base, is walked into; any other layer is one entry with all its weights)."""
    import keras

    out = {}
    for layer in root.layers:
        key = (*prefix, layer.name)
        if isinstance(layer, keras.Model):
            out.update(weighted_layers(layer, key))
        elif layer.weights:
            out[key] = layer
    return out


def _pairs(ours, theirs) -> list[tuple[object, object]] | None:
    """(our variable, its variable), by variable name where the names are unique, else in order;
    None when they do not correspond (count, name or shape)."""
    a, b = ours.weights, theirs.weights
    if len(a) != len(b):
        return None
    names_a, names_b = [v.name for v in a], [v.name for v in b]
    if len(set(names_a)) == len(a) and set(names_a) == set(names_b):
        by_name = dict(zip(names_b, b))
        pairs = [(v, by_name[v.name]) for v in a]
    else:
        pairs = list(zip(a, b))
    return pairs if all(tuple(v.shape) == tuple(w.shape) for v, w in pairs) else None


def load_weights(model, init: str, fold: int, n_folds: int) -> dict:
    """Copy the source's weights into ``model`` (built, not yet trained); returns what summary.json
    records under ``init``."""
    from kopt.rundir import load_run

    run = load_run(init)
    files = init_model_files(run)
    name = files[0] if len(files) == 1 else files[fold]
    path = Path(init) / name
    theirs = weighted_layers(_core(_load(path, init)))
    ours = weighted_layers(model)
    missing = [k for k in ours if k not in theirs]
    extra = [k for k in theirs if k not in ours]
    if missing or extra:
        what = (
            f"has no layer {'/'.join(missing[0])}" if missing else f"has a layer {'/'.join(extra[0])} this model lacks"
        )
        raise KoptError(
            f"{_where(init)}: {name} {what} ({len(missing)} missing, {len(extra)} extra); the weights load only "
            "into the same architecture"
        )
    count = 0
    for key, layer in ours.items():
        pairs = _pairs(layer, theirs[key])
        if pairs is None:
            shapes = [tuple(v.shape) for v in layer.weights], [tuple(w.shape) for w in theirs[key].weights]
            raise KoptError(
                f"{_where(init)}: layer {'/'.join(key)} has weights of shapes {shapes[1]} in {name}, {shapes[0]} "
                "here; the weights load only into the same architecture"
            )
        for ours_v, theirs_v in pairs:
            ours_v.assign(np.asarray(theirs_v.numpy()).astype(ours_v.dtype))
            count += 1
    return {
        "run": str(init),
        "file": name,
        "layers": len(ours),
        "weights": count,
        "finished_at": run.summary.finished_at,
    }
