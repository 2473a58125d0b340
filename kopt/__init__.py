"""kopt: a command-line experiment runner for Keras models driven by Hydra configs."""

__version__ = "0.1.0"
