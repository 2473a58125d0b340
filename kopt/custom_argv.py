"""model=custom and dataset=custom on a command line: keys of your own need no ``+``
(:func:`open_custom_keys`), and the ``--config-dir`` folder is where your modules may be
(kopt.targets). No TensorFlow here."""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from kopt.compose import search_dirs, split_argv

OPEN_GROUPS = ("model", "dataset")  # groups with a ``custom`` option that takes keys of your own


def _is_custom(group: str, option: str, dirs: list[Path]) -> bool:
    """Whether ``group`` option ``option`` is the group's custom option (it, or a YAML of yours built on it)."""
    if option == "custom":
        return True
    for d in dirs:
        path = d / group / f"{option}.yaml"
        if path.is_file():
            try:
                node = OmegaConf.load(path)
            except Exception:  # Hydra says what is wrong with the file when it composes
                return False
            defaults = [str(e) for e in node.get("defaults", []) or []] if isinstance(node, DictConfig) else []
            return isinstance(node, DictConfig) and (node.get("name") == "custom" or "custom" in defaults)
    return False


def open_custom_keys(argv: list[str]) -> list[str]:
    """``argv`` ready for model=custom and dataset=custom: their keys of your own need no ``+``
    (``model.width=32`` is passed to Hydra as ``++model.width=32``, ``dataset.n=500`` as
    ``++dataset.n=500``) when the command line picks the group's custom option (or a YAML of yours
    built on it). Also records the ``--config-dir`` folder, where your modules may be
    (kopt.targets). Any other command line comes back unchanged."""
    from kopt import targets

    line = split_argv(argv)
    targets.set_config_dirs([line.user_config_dir] if line.user_config_dir else [])
    dirs = search_dirs(line.user_config_dir)
    opened = []
    for group in OPEN_GROUPS:
        picks = [a.split("=", 1)[1] for a in line.overrides if a.split("=", 1)[0].lstrip("+") == group and "=" in a]
        if picks and "," not in picks[-1] and _is_custom(group, picks[-1].strip(), dirs):
            opened.append(group)
    if not opened:
        return argv
    given = set(line.overrides)
    keys = re.compile(rf"({'|'.join(opened)})\.[^=]+=")
    return [f"++{a}" if a in given and keys.match(a) else a for a in argv]
