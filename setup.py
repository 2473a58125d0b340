"""The configs live in top-level ``configs/`` (the project layout) but ship inside the
package as ``kopt/configs`` so that a non-editable install works from any folder."""

from setuptools import find_namespace_packages, find_packages, setup

# Each folder of configs/ is a namespace package to Python: setuptools wants it named, or warns that it
# would be left out of the wheel ("Package would be ignored"); its YAML files are its package data.
CONFIGS = ["kopt.configs", *(f"kopt.configs.{name}" for name in find_namespace_packages(where="configs"))]

setup(
    packages=find_packages(include=["kopt", "kopt.*"]) + CONFIGS + ["hydra_plugins.kopt_launcher"],
    package_dir={"kopt.configs": "configs"},
    package_data={name: ["*.yaml"] for name in CONFIGS},
)
