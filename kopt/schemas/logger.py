import importlib.util
from dataclasses import dataclass

from kopt.errors import KoptError, install_hint
from kopt.schemas import schema


def check_tensorboard(prefix: str, on: bool) -> None:
    """TensorBoard is a dependency of kopt, but a hand-made environment may lack it: say so before
    a run starts, not at the end of its first epoch."""
    if on and importlib.util.find_spec("tensorboard") is None:
        raise KoptError(
            f"{prefix}.tensorboard=true needs the tensorboard package, which is not installed; "
            f"pip install tensorboard (a dependency of kopt), or {prefix}.tensorboard=false"
        )


@schema("logger", "csv")
@dataclass
class CsvLoggerConfig:
    name: str
    tensorboard: bool

    def check(self, prefix: str) -> None:
        check_tensorboard(prefix, self.tensorboard)


@schema("logger", "mlflow")
@dataclass
class MlflowLoggerConfig:
    name: str
    tensorboard: bool
    tracking_uri: str | None
    experiment: str
    log_model: bool

    def check(self, prefix: str) -> None:
        check_tensorboard(prefix, self.tensorboard)
        if importlib.util.find_spec("mlflow") is None:
            raise KoptError(
                "logger=mlflow needs the mlflow package, which is not installed; "
                f"{install_hint('mlflow')}, or use logger=csv"
            )
        if not self.experiment.strip():
            raise KoptError(f"{prefix}.experiment is empty; allowed: a non-empty experiment name")
