"""model=custom on a command line: keys of your own need no ``+`` (:func:`open_custom_keys`), and
the ``--config-dir`` folder is where your modules may be (kopt.targets). No TensorFlow here."""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from kopt.compose import search_dirs, split_argv


def _is_custom_model(option: str, dirs: list[Path]) -> bool:
    """Whether model option ``option`` is model=custom (it, or a YAML of yours built on it)."""
    if option == "custom":
        return True
    for d in dirs:
        path = d / "model" / f"{option}.yaml"
        if path.is_file():
            try:
                node = OmegaConf.load(path)
            except Exception:  # Hydra says what is wrong with the file when it composes
                return False
            defaults = [str(e) for e in node.get("defaults", []) or []] if isinstance(node, DictConfig) else []
            return isinstance(node, DictConfig) and (node.get("name") == "custom" or "custom" in defaults)
    return False


def open_custom_keys(argv: list[str]) -> list[str]:
    """``argv`` ready for model=custom: its keys of your own need no ``+`` (``model.width=32`` is
    passed to Hydra as ``++model.width=32``) when the command line picks model=custom (or a model
    YAML of yours built on it). Also records the ``--config-dir`` folder, where your modules may be
    (kopt.targets). Any other command line comes back unchanged."""
    from kopt import targets

    line = split_argv(argv)
    targets.set_config_dirs([line.user_config_dir] if line.user_config_dir else [])
    picks = [a.split("=", 1)[1] for a in line.overrides if a.split("=", 1)[0].lstrip("+") == "model" and "=" in a]
    if not picks or "," in picks[-1] or not _is_custom_model(picks[-1].strip(), search_dirs(line.user_config_dir)):
        return argv
    given = set(line.overrides)
    return [f"++{a}" if a in given and re.match(r"model\.[^=]+=", a) else a for a in argv]
