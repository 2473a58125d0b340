"""``augment=cutmix``: kopt's CutMix (:class:`kopt.data.augment.CutMix`, as Yun et al. 2019)."""

from dataclasses import dataclass

from kopt.data.augments import recipe
from kopt.schemas import param, schema


@schema("augment", "cutmix", needs="image")
@dataclass
class CutMixConfig:
    """CutMix as Yun et al. 2019: lambda ~ Beta(alpha, alpha) per image; any alpha > 0."""

    name: str
    alpha: float = param(gt=0)


@recipe("cutmix")
def cutmix(cfg, data) -> list:
    from kopt.data.augment import CutMix

    return [CutMix(cfg.alpha)]
