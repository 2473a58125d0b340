"""Hydra's side of kopt plugins: the config folders of installed ``kopt.plugins`` packages on the
search path of kopt's Hydra app (sweeps, ``--cfg hydra``), as ``kopt.compose.search_dirs`` puts
them on kopt's own. Hydra imports this module when it scans ``hydra_plugins``."""

from __future__ import annotations

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class KoptPluginSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        try:
            from kopt.plugins import config_dirs

            folders = config_dirs()
        except Exception:  # kopt reports a broken plugin itself, in one line
            return
        for folder in folders:
            search_path.append(provider="kopt-plugin", path=f"file://{folder}")
