"""Top-level keys of a composed run config."""

from dataclasses import dataclass

from kopt.paths import check_safe_name
from kopt.schemas import param, schema


@schema("root", "train")
@dataclass
class RootConfig:
    seed: int = param(ge=0, le=2**32 - 1)  # numpy and TensorFlow seeds are 32-bit
    name: str | None
    # a run dir (or `last`) to continue; with -m, `true` continues the same sweep
    resume: str | None

    def check(self, prefix: str) -> None:
        if self.name is not None:
            check_safe_name("name", self.name)
