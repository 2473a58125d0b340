"""One-way dependencies: the import graph of kopt/, read with ast (nothing is imported, so no TensorFlow).

Every module has a layer; a module imports only from its own layer or the ones below, and no
chain of imports comes back to where it started. Imports inside functions count too: a lazy
import is still a dependency. docs/architecture.md ("Layers") draws the same table.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "kopt"

CORE, SCHEMAS, CONFIG, DATA, TRAINING, ANALYSIS, INTERFACE = range(7)
NAMES = {
    CORE: "core",
    SCHEMAS: "schemas",
    CONFIG: "compose and validate",
    DATA: "data and models",
    TRAINING: "training",
    ANALYSIS: "tune and analysis",
    INTERFACE: "commands and cli",
}

# module or package prefix -> layer; the longest matching prefix decides ("kopt" is the __init__ only)
LAYERS = {
    # config and validation: no TensorFlow, no Keras (the path of --help, --cfg and config errors)
    #   core: errors, paths, terminal output, the run-dir contract and its file helpers
    "kopt": CORE,
    "kopt.errors": CORE,
    "kopt.paths": CORE,
    "kopt.console": CORE,
    "kopt.procs": CORE,
    "kopt.protocol": CORE,
    "kopt.rundir": CORE,
    "kopt.runfiles": CORE,
    "kopt.runload": CORE,
    "kopt.csvtext": CORE,
    "kopt.keras_files": CORE,
    "kopt.backend": CORE,
    "kopt.registry": CORE,
    "kopt.argparser": CORE,
    "kopt.targets": CORE,
    "kopt.plugins": CORE,
    #   the typed options, with the facts they check (model depths)
    "kopt.schemas": SCHEMAS,
    "kopt.models.depth": SCHEMAS,
    "kopt.models.app_names": SCHEMAS,
    #   composing a command line's configs and validating them
    "kopt.compose": CONFIG,
    "kopt.validate": CONFIG,
    "kopt.hydra_app": CONFIG,
    "kopt.custom_argv": CONFIG,
    # data, models, training: what a run builds and trains (TensorFlow loads here)
    "kopt.data": DATA,
    "kopt.tta": DATA,
    "kopt.models": DATA,
    "kopt.optim": DATA,
    "kopt.runtime": DATA,
    "kopt.plotstyle": DATA,
    "kopt.mlflow_study": DATA,
    "kopt.training": TRAINING,
    "kopt.tracking": TRAINING,
    # what runs many trainings or reads their run dirs: studies, sweeps, resume, reports, statistics
    "kopt.tune": ANALYSIS,
    "kopt.sweep": ANALYSIS,
    "kopt.resume": ANALYSIS,
    "kopt.report": ANALYSIS,
    "kopt.stats": ANALYSIS,
    "kopt.comparison": ANALYSIS,
    "kopt.ensemble": ANALYSIS,
    "kopt.lrfind": ANALYSIS,
    "kopt.predict": ANALYSIS,
    # the command line
    "kopt.commands": INTERFACE,
    "kopt.cli": INTERFACE,
    "kopt.completion": INTERFACE,
    "kopt.__main__": INTERFACE,
}
# Cycles tolerated while a change removes them (none now: the last, tune/objective <-> tune/study,
# went with the split of tune/study.py by concern).
KNOWN_CYCLES: list[list[str]] = []
NO_TENSORFLOW = ("tensorflow", "keras", "tf_keras")


def modules(root: Path = ROOT) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if package else parts)] = (path, package)
    return out


def imports(name: str, path: Path, package: bool, known) -> set[str]:
    """Every module ``name`` imports (kopt modules resolved to the deepest known one; others by top name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = name if package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            found.update(f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names)
    out = set()
    for target in found:
        if target.split(".")[0] != "kopt":
            out.add(target.split(".")[0])
            continue
        while target not in known and "." in target:
            target = target.rpartition(".")[0]
        if target != name:
            out.add(target)
    return out


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    """kopt module -> the kopt modules and outside top-level packages it imports."""
    known = modules(root)
    return {name: imports(name, path, package, known) for name, (path, package) in known.items()}


def layer(name: str) -> int | None:
    if name == "kopt":
        return LAYERS[name]
    parts = name.split(".")
    for i in range(len(parts), 1, -1):  # "kopt" itself is the package's __init__ only
        if ".".join(parts[:i]) in LAYERS:
            return LAYERS[".".join(parts[:i])]
    return None


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def arrows(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, targets in edges.items() for b in targets if b in edges)


@pytest.fixture(scope="module")
def edges():
    return graph()


def test_every_module_has_a_layer(edges):
    unplaced = [m for m in edges if layer(m) is None]
    assert not unplaced, f"place each in LAYERS and in docs/architecture.md: {unplaced}"


def test_no_import_cycles(edges):
    found = cycles(edges)
    new = [" <-> ".join(c) for c in found if c not in KNOWN_CYCLES]
    assert not new, "import cycles:\n" + "\n".join(new)
    assert [c for c in KNOWN_CYCLES if c not in found] == [], "this cycle is gone: delete it from KNOWN_CYCLES"


def test_no_upward_imports(edges):
    upward = [
        f"{a} ({NAMES[layer(a)]}) -> {b} ({NAMES[layer(b)]})"
        for a, b in arrows(edges)
        if layer(a) is not None and layer(b) is not None and layer(b) > layer(a)
    ]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_config_layer_needs_no_tensorflow(edges):
    loads = [f"{m} -> {t}" for m, targets in edges.items() if layer(m) <= CONFIG for t in targets if t in NO_TENSORFLOW]
    assert not loads, "TensorFlow below data and models:\n" + "\n".join(loads)


def test_the_checks_catch_a_cycle_and_an_upward_import(tmp_path):
    """The walker itself: a package with a cycle (lazy import included) and an upward import."""
    pkg = tmp_path / "kopt"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "data" / "a.py").write_text("from kopt.data import b\n")
    (pkg / "data" / "b.py").write_text("def f():\n    from . import a\n")
    (pkg / "errors.py").write_text("from kopt.data.a import x\n")
    edges = graph(pkg)
    assert cycles(edges) == [["kopt.data.a", "kopt.data.b"]]
    assert ("kopt.errors", "kopt.data.a") in arrows(edges) and layer("kopt.errors") < layer("kopt.data.a")
    assert "kopt.data.b" in edges["kopt.data.a"]


def test_each_augmentation_is_one_yaml_and_one_module_with_its_schema_and_builder():
    """An option is one YAML file and one module, whether kopt's own or a plugin's: for every
    configs/augment/<name>.yaml, the schema and the builder (recipe) are defined in the same module,
    one module per option, and importing those modules (what validation does) loads no TensorFlow."""
    import json
    import os
    import subprocess
    import sys

    from kopt.paths import config_dir

    names = sorted(p.stem for p in (config_dir() / "augment").glob("*.yaml"))
    probe = (
        "import json, sys\n"
        "from kopt.schemas import SCHEMAS\n"
        f"homes = {{n: SCHEMAS['augment'].get(n).__module__ for n in {names!r}}}\n"
        "print(json.dumps([homes, sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    schemas, loaded = json.loads(out.stdout.splitlines()[-1])
    assert loaded == [], "importing the augmentation schemas loaded TensorFlow or Keras"
    from kopt.data.augment import RECIPES

    builders = {n: RECIPES.get(n).__module__ for n in names}
    assert names and schemas == builders
    assert len(set(schemas.values())) == len(names)  # one module per option
