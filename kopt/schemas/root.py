"""Top-level keys of a composed run config."""

from dataclasses import dataclass
from typing import Optional

from kopt.schemas import param, schema


@schema("root", "train")
@dataclass
class RootConfig:
    seed: int = param(0, ge=0)
    name: Optional[str] = None
