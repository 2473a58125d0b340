"""Where things live: the packaged configs and the runs folder, and which names may become file names."""

from pathlib import Path

from kopt.errors import KoptError

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


def check_safe_name(key: str, value) -> None:
    """A name that may end up in a file or folder name: no separators, no '..', no control characters."""
    text = str(value)
    if (
        not text
        or len(text) > 100
        or "/" in text
        or "\\" in text
        or ".." in text
        or text.startswith(".")
        or any(ord(c) < 32 or ord(c) == 127 for c in text)
    ):
        raise KoptError(
            f"{key}={text!r} is not a safe name; allowed: up to 100 characters without "
            "'/', '\\', '..', control characters or a leading '.'"
        )
