"""An example kopt plugin: the model option ``tinynet``, as one YAML file (configs/model/tinynet.yaml)
and this one module, which registers its schema (types and ranges, no TensorFlow) and its builder
(TensorFlow imported inside it). kopt imports this module through the ``kopt.plugins`` entry point
named in pyproject.toml."""

from dataclasses import dataclass
from pathlib import Path

from kopt.models import builder
from kopt.schemas import param, schema

CONFIG_DIR = Path(__file__).parent / "configs"  # (the default: configs/ beside this module)


@schema("model", "tinynet", input="any")
@dataclass
class TinyNetConfig:
    name: str
    units: int = param(ge=1)


@builder("tinynet")
def build_tinynet(cfg, input_shape, num_classes, reg):
    import keras

    inputs = keras.Input(shape=input_shape, name="inputs")
    x = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    x = keras.layers.Dense(cfg.units, activation="relu", name="hidden")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"tinynet_{cfg.units}")
