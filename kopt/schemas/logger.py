import importlib.util
from dataclasses import dataclass
from typing import Optional

from kopt.errors import KoptError
from kopt.schemas import schema


@schema("logger", "csv")
@dataclass
class CsvLoggerConfig:
    name: str = "csv"
    tensorboard: bool = True


@schema("logger", "mlflow")
@dataclass
class MlflowLoggerConfig:
    name: str = "mlflow"
    tensorboard: bool = True
    tracking_uri: Optional[str] = None
    experiment: str = "kopt"
    log_model: bool = True

    def check(self, prefix: str) -> None:
        if importlib.util.find_spec("mlflow") is None:
            raise KoptError("logger=mlflow needs the mlflow package, which is not installed; "
                            "pip install 'kopt[mlflow]' (or use logger=csv)")
        if not self.experiment.strip():
            raise KoptError(f"{prefix}.experiment is empty; allowed: a non-empty experiment name")
