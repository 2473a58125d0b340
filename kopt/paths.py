"""Where things live: the packaged configs and the runs folder."""

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def config_dir() -> Path:
    """The primary config dir: ``kopt/configs`` when installed, ``configs/`` in a checkout."""
    installed = _PKG / "configs"
    if (installed / "config.yaml").is_file():
        return installed
    return _PKG.parent / "configs"


def config_groups() -> dict[str, list[str]]:
    """Every config group and its options, read from the YAML files (no Hydra needed)."""
    root = config_dir()
    groups: dict[str, list[str]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "hydra"):
        options = sorted(f.stem for f in sub.glob("*.yaml"))
        groups[sub.name] = options
    return groups
