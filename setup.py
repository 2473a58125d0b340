"""The configs live in top-level ``configs/`` (the project layout) but ship inside the
package as ``kopt/configs`` so that a non-editable install works from any folder."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["kopt", "kopt.*"]) + ["kopt.configs", "hydra_plugins.kopt_launcher"],
    package_dir={"kopt.configs": "configs"},
    package_data={"kopt.configs": ["*.yaml", "**/*.yaml"]},
)
