"""One module per model of kopt's own: its schema (types and ranges, registered with its ``input``
and ``search`` facts through :func:`kopt.schemas.schema`) and its builder (:func:`kopt.models.builder`:
``(cfg, input_shape, num_classes, reg) -> keras.Model``). With its YAML in ``configs/model/`` that is
the whole option, as for a dataset (kopt/data/sources), an augmentation (kopt/data/augments) or a
plugin's model: the registries import every module here (kopt.registry). Modules here import no
TensorFlow, Keras or numpy at module level (validation, ``--cfg`` and ``kopt models`` import them):
a builder imports Keras and the shared building blocks (:mod:`kopt.models.layers`) inside."""

# Imported here first so that the options register in the order `kopt models` lists them (simple
# to deep); the registries import any other module of this package after these.
from kopt.models.zoo import mlp, cnn, resnet, densenet, wrn, custom, keras_app  # noqa: F401, I001
