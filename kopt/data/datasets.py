"""The ``dataset`` group: each option is a loader returning a :class:`Data`.

Loaders live in small modules by source (:mod:`kopt.data.bundled`, :mod:`kopt.data.keras_cache`,
:mod:`kopt.data.files`, and one module per dataset in :mod:`kopt.data.sources`) and register
themselves in :data:`kopt.data.base.LOADERS` with :func:`kopt.data.base.loader`. No loader touches the network. :func:`load_dataset` checks what a loader returns (shapes, labels, finite features), so
bad data costs one clear line before any model is built.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from kopt.data.base import LOADERS, Data, check_data, loader  # noqa: F401 (kopt.data.datasets.Data before)
from kopt.errors import KoptError


def _subset(idx: np.ndarray, y: np.ndarray | None, size: int, seed: int) -> np.ndarray:
    from sklearn.model_selection import train_test_split

    if size >= len(idx):
        return idx
    keep, _ = train_test_split(idx, train_size=size, stratify=None if y is None else y[idx], random_state=seed)
    return np.sort(keep)


def stratified_limit(data: Data, limit: int | None, seed: int) -> Data:
    """A stratified subset of ``limit`` samples; a fixed test set keeps its share of them."""
    if not limit or limit >= len(data.y):
        return data
    limit, n = int(limit), len(data.y)
    y = data.y if data.stratify else None  # values and label sets: a plain random subset
    try:
        if data.test_idx is None:
            keep, test_idx = _subset(np.arange(n), y, limit, seed), None
        else:
            pool = np.setdiff1d(np.arange(n), data.test_idx)
            n_test = max(1, round(limit * len(data.test_idx) / n))
            keep_pool = _subset(pool, y, limit - n_test, seed)
            keep_test = _subset(data.test_idx, y, n_test, seed)
            keep = np.concatenate([keep_pool, keep_test])
            test_idx = np.arange(len(keep_pool), len(keep), dtype="int64")
    except ValueError as exc:
        raise KoptError(f"dataset.limit={limit}: {exc}") from None
    kept = {k: getattr(data, k)[keep] for k in ("groups", "order") if getattr(data, k) is not None}
    return replace(data, x=data.x[keep], y=data.y[keep], test_idx=test_idx, **kept)


def load_dataset(cfg, seed: int) -> Data:
    """The ``dataset`` config's data, checked; loaders receive the typed config (kopt.validate.typed_option)."""
    from kopt.validate import typed_option

    cfg = typed_option("dataset", cfg)
    name = cfg.name
    fn = LOADERS.get(name)
    data = fn(cfg, seed=seed) if "seed" in fn.__code__.co_varnames else fn(cfg)
    data = check_data(data, f"dataset={name}", cfg.task)
    return stratified_limit(data, cfg.limit, seed)


def check_files_content(cfgs) -> list[str | None]:
    """Run the ``precheck`` of each distinct dataset of a command line that states one (``npz``:
    read once with numpy; ``table``, ``csv``: with pandas; ``images``: folder structure and image
    headers), so that bad content costs one line before any run dir is created. The labels a
    precheck returns are checked against each job's split too (kopt.data.labels: a regression
    target is refused). Returns each job's dataset.task as its labels tell it (None where no
    precheck reads them: the config tells it)."""
    from kopt.data.base import Data
    from kopt.data.labels import check_stratifiable, label_source
    from kopt.validate import typed_option

    seen, checked = [], []  # (node, typed config, data or None) per distinct dataset; (node, split, seed)
    tasks: list[str | None] = []
    for cfg in cfgs:
        tasks.append(None)
        node = cfg.get("dataset")
        if node is None or node.get("name") not in LOADERS:
            continue
        found = next((s for s in seen if s[0] == node), None)
        if found is None:
            typed = typed_option("dataset", node)
            loaded = LOADERS.fact(node.name, "precheck", config=typed)
            found = (node, typed, loaded if isinstance(loaded, Data) else None)
            seen.append(found)
        _, typed, data = found
        tasks[-1] = data.task if data is not None else None
        if data is None or cfg.get("split") is None or (node, cfg.split, cfg.get("seed")) in checked:
            continue
        if cfg.get("trainer") is not None:  # trainer.metrics and monitor against the task the labels tell
            from kopt.schemas.metrics import check_trainer

            check_trainer(cfg.trainer, data.task)
        checked.append((node, cfg.split, cfg.get("seed")))
        seed = int(cfg.get("seed", 0))
        check_stratifiable(
            stratified_limit(data, getattr(typed, "limit", None), seed), cfg.split, seed, label_source(typed)
        )
    return tasks
