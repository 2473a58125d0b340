"""One module per dataset: its schema (types and ranges, registered with its facts through
:func:`kopt.schemas.schema`) and its loader (:func:`kopt.data.datasets.loader`). With its YAML in
``configs/dataset/`` that is the whole dataset: the registries import every module here
(kopt.registry). Modules here import no TensorFlow at module level: validation imports them."""
