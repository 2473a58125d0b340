"""One module per augmentation: its schema (types and ranges, registered with its ``needs`` fact
through :func:`kopt.schemas.schema`) and its builder (:func:`recipe`: ``(cfg, data) -> list of
Keras layers``). With its YAML in ``configs/augment/`` that is the whole option, as for a dataset
(kopt/data/sources) or a plugin's option: the registries import every module here
(kopt.registry). Modules here import no TensorFlow at module level (validation imports them): a
builder imports Keras inside, and kopt's own layers from :mod:`kopt.data.augment`, which applies
the layers to training batches."""

from __future__ import annotations

from kopt.registry import Registry

RECIPES = Registry("augment", ("kopt.data.augments",))  # option -> recipe(cfg, data) -> list of layers
recipe = RECIPES.register
