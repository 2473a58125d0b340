"""One-way dependencies: the import graph of kopt/, read with ast (nothing is imported, so no TensorFlow).

Every module has a layer; a module imports only from its own layer or the ones below, and no
chain of imports comes back to where it started. Imports inside functions count too: a lazy
import is still a dependency. docs/architecture.md ("Layers") draws the same table.

The folders show the same layers: seen as rooms (each sub-package of kopt one room, each module
of kopt/ itself one room), no room imports a room above its own floor (the lowest layer among
its modules), and no two rooms import each other, directly or through others.
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
    "kopt.quiet": CORE,
    "kopt.plugins": CORE,
    #   the typed options, with the facts they check (model depths, Keras application names)
    "kopt.schemas": SCHEMAS,
    #   composing a command line's configs and validating them
    "kopt.compose": CONFIG,
    "kopt.validate": CONFIG,
    "kopt.hydra_app": CONFIG,
    "kopt.custom_argv": CONFIG,
    # data, models, training: what a run builds and trains (TensorFlow loads here)
    "kopt.data": DATA,
    "kopt.tta": DATA,
    "kopt.models": DATA,  # models/zoo: one module per model (schema and builder), imported by name by validation
    "kopt.optim": DATA,
    "kopt.runtime": DATA,
    "kopt.plotstyle": DATA,
    "kopt.mlflow_study": DATA,
    "kopt.training": TRAINING,
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
# Rooms (folders, or modules of kopt/ itself) that import each other, tolerated while a change removes them
KNOWN_FOLDER_CYCLES: list[list[str]] = []
# kopt/tune's folders, bottom to top: each imports only the ones before it (docs/architecture.md)
TUNE_FOLDERS = [
    "kopt.tune.store",  # the study's storage, its journal, Optuna's private API
    "kopt.tune.planning",  # search space, auto, objectives, warm start, samplers, pruners, the plan and its record
    "kopt.tune.trials",  # claiming, recovering, deduplicating trials; which keep their model
    "kopt.tune.results",  # Pareto front, reports, plots, study.html, best.yaml, the retrain
    "kopt.tune.running",  # the study opened, the worker loop and processes, one trial, the terminal
    "kopt.tune.run",  # one study end to end
]
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


def room(name: str, house: str = "kopt") -> str:
    """The folder of ``house`` a module is seen in: ``kopt.tune.planning.space`` -> ``kopt.tune``
    (in ``kopt.tune``: ``kopt.tune.planning``); ``kopt.procs`` is a room of its own."""
    return ".".join(name.split(".")[: len(house.split(".")) + 1])


def floors(edges: dict[str, set[str]]) -> dict[str, int]:
    """Room -> its floor: the lowest layer among its modules."""
    out: dict[str, int] = {}
    for name in edges:
        if layer(name) is not None:
            out[room(name)] = min(out.get(room(name), layer(name)), layer(name))
    return out


def room_arrows(edges: dict[str, set[str]], house: str = "kopt") -> list[tuple[str, str]]:
    """The module arrows inside ``house`` that cross from one of its rooms to another."""
    inside = [(a, b) for a, b in arrows(edges) if a.startswith(house + ".") and b.startswith(house + ".")]
    return [(a, b) for a, b in inside if room(a, house) != room(b, house)]


def room_cycles(edges: dict[str, set[str]], house: str = "kopt") -> list[tuple[list[str], list[str]]]:
    """(rooms, the module arrows between them) of each set of rooms of ``house`` that import each other."""
    between: dict[str, set[str]] = {room(m, house): set() for m in edges if m.startswith(house + ".")}
    crossing = room_arrows(edges, house)
    for a, b in crossing:
        between[room(a, house)].add(room(b, house))
    out = []
    for rooms in cycles(between):
        why = [f"{a} -> {b}" for a, b in crossing if room(a, house) in rooms and room(b, house) in rooms]
        out.append((rooms, why))
    return out


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


def test_no_folder_imports_a_folder_above_it(edges):
    """A room imports nothing above its floor: a folder that holds a module of a low layer (say
    schemas) does not import a module of a higher one (say compose and validate)."""
    floor = floors(edges)
    upward = [
        f"{a} -> {b}: {room(a)} stands on {NAMES[floor[room(a)]]}, {b} is {NAMES[layer(b)]}"
        for a, b in room_arrows(edges)
        if room(a) in floor and layer(b) is not None and layer(b) > floor[room(a)]
    ]
    assert not upward, "a folder imports a folder above it:\n" + "\n".join(upward)


def test_folders_import_one_way(edges):
    """No two rooms import each other (lazy imports included): the folders stack as the layers do."""
    found = room_cycles(edges)
    new = [f"{' <-> '.join(rooms)}: {'; '.join(why)}" for rooms, why in found if rooms not in KNOWN_FOLDER_CYCLES]
    assert not new, "folders that import each other:\n" + "\n".join(new)
    gone = [c for c in KNOWN_FOLDER_CYCLES if c not in [rooms for rooms, _ in found]]
    assert gone == [], "these folders import one way now: delete them from KNOWN_FOLDER_CYCLES"


def test_tune_folders_import_one_way(edges):
    """kopt/tune's folders stack in the order of TUNE_FOLDERS, lazy imports included."""
    rooms = {room(m, "kopt.tune") for m in edges if m.startswith("kopt.tune.")}
    assert sorted(rooms) == sorted(TUNE_FOLDERS), "place each folder of kopt/tune in TUNE_FOLDERS"
    upward = [
        f"{a} -> {b}"
        for a, b in room_arrows(edges, "kopt.tune")
        if TUNE_FOLDERS.index(room(b, "kopt.tune")) > TUNE_FOLDERS.index(room(a, "kopt.tune"))
    ]
    assert not upward, "a folder of kopt/tune imports one above it:\n" + "\n".join(upward)


def test_config_layer_needs_no_tensorflow(edges):
    loads = [f"{m} -> {t}" for m, targets in edges.items() if layer(m) <= CONFIG for t in targets if t in NO_TENSORFLOW]
    assert not loads, "TensorFlow below data and models:\n" + "\n".join(loads)


# Module-level containers a function may change: process caches and registries, each with its reason.
# Anything else a command or a run needs lives in an object passed to it (docs/architecture.md, "State").
KNOWN_MODULE_STATE = {
    "kopt.plugins._loaded": "the installed plugins, imported once per process",
    "kopt.plugins._state": "whether the plugins were imported in this process",
    "kopt.training.distribute._strategies": "tf.distribute allows one strategy of a kind per process",
    "kopt.data.splits.SPLITTERS": "a registry: the retrain registers its refit splitter once",
    "kopt.models.layers.HEAD": "the task's output activation, set and restored around one build_model",
}
_MUTATORS = {
    "append",
    "extend",
    "insert",
    "add",
    "update",
    "setdefault",
    "pop",
    "popitem",
    "remove",
    "discard",
    "clear",
}
_CONTAINERS = {"dict", "list", "set", "defaultdict", "OrderedDict", "Counter", "deque"}


def _is_container(value: ast.expr) -> bool:
    if isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)):
        return True
    func = value.func if isinstance(value, ast.Call) else None
    return getattr(func, "id", None) in _CONTAINERS or getattr(func, "attr", None) in _CONTAINERS


def _owner(expr: ast.expr, names: dict, aliases: dict, state: set) -> tuple[str, str] | None:
    """(module, name) of the module-level container ``expr`` names (by its name or as module.name)."""
    if isinstance(expr, ast.Name):
        return names.get(expr.id)
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id in aliases:
        key = (aliases[expr.value.id], expr.attr)
        return key if key in state else None
    return None


def mutated_module_state(root: Path = ROOT) -> dict[str, list[str]]:
    """``module.name`` of each module-level dict, list or set that a function changes (an item set or
    deleted, a mutating method called; in its module or where it is imported), or that a function
    rebinds with ``global`` -> where. Filling a container at import time is not state."""
    mods = modules(root)
    trees = {name: ast.parse(path.read_text(encoding="utf-8"), str(path)) for name, (path, _) in mods.items()}
    state = set()
    for name, tree in trees.items():
        for node in tree.body:
            targets = {ast.Assign: lambda n: n.targets, ast.AnnAssign: lambda n: [n.target]}.get(type(node))
            targets = targets(node) if targets else []
            if getattr(node, "value", None) is not None and _is_container(node.value):
                state.update((name, t.id) for t in targets if isinstance(t, ast.Name))
    found: dict[str, set[str]] = {}
    for name, tree in trees.items():
        package = mods[name][1]
        here = name if package else name.rpartition(".")[0]
        names = {local: (m, local) for m, local in state if m == name}  # local name -> (module, name)
        aliases: dict[str, str] = {}  # local name -> kopt module
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                    base = f"{up}.{base}" if base else up
                for a in node.names:
                    if (base, a.name) in state:
                        names[a.asname or a.name] = (base, a.name)
                    if f"{base}.{a.name}" in mods:
                        aliases[a.asname or a.name] = f"{base}.{a.name}"
            elif isinstance(node, ast.Import):
                aliases.update({a.asname: a.name for a in node.names if a.asname and a.name in mods})

        for func in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in ast.walk(func):
                keys = []
                if isinstance(node, ast.Global):
                    keys = [(name, g) for g in node.names]
                elif isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)):
                    keys = [_owner(node.value, names, aliases, state)]
                elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) in _MUTATORS:
                    keys = [_owner(node.func.value, names, aliases, state)]
                for key in filter(None, keys):
                    found.setdefault(".".join(key), set()).add(f"{name}:{node.lineno}")  # (nested functions: once)
    return {key: sorted(where) for key, where in found.items()}


def test_no_module_holds_state_that_a_command_changes():
    """A command's or a run's decisions (whether validation looks at this machine's files, which
    sweep a command runs) are arguments or objects passed down, not a module-level switch."""
    found = mutated_module_state()
    unknown = {k: v for k, v in found.items() if k not in KNOWN_MODULE_STATE}
    assert not unknown, "module-level state changed at run time:\n" + "\n".join(
        f"{k}: {', '.join(v)}" for k, v in sorted(unknown.items())
    )


def test_the_state_check_catches_a_switch_flipped_elsewhere(tmp_path):
    """The walker itself: a switch flipped through its module, one imported by name, a list appended
    to in its own module, a ``global``; a table filled at import time is not state."""
    pkg = tmp_path / "kopt"
    (pkg / "schemas").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "schemas" / "__init__.py").write_text('files = {"check": True}\nTABLE = {}\nTABLE["a"] = 1\n')
    (pkg / "compose.py").write_text('from kopt import schemas as s\n\ndef f():\n    s.files["check"] = False\n')
    (pkg / "models.py").write_text(
        "from kopt.schemas import files\nseen = []\nn = 0\n\n"
        "def f():\n    files.update(check=True)\n    seen.append(1)\n\n"
        "def g():\n    global n\n    n += 1\n"
    )
    assert mutated_module_state(pkg) == {
        "kopt.schemas.files": ["kopt.compose:4", "kopt.models:6"],
        "kopt.models.seen": ["kopt.models:7"],
        "kopt.models.n": ["kopt.models:10"],
    }


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


def test_the_folder_checks_catch_a_folder_cycle_and_a_folder_above(tmp_path):
    """Rooms: a top-level module and a folder that import each other (lazily), and a folder whose
    floor is the schemas layer importing validation."""
    pkg = tmp_path / "kopt"
    for folder in ("training", "schemas"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "tracking.py").write_text("from kopt.training.curves import x\n")
    (pkg / "training" / "curves.py").write_text("")
    (pkg / "training" / "run.py").write_text("def f():\n    from kopt.tracking import T\n")
    (pkg / "schemas" / "model.py").write_text("def f():\n    from kopt.validate import typed_option\n")
    (pkg / "validate.py").write_text("from kopt.schemas import registry\n")
    edges = graph(pkg)
    assert room_cycles(edges) == [
        (["kopt.schemas", "kopt.validate"], ["kopt.schemas.model -> kopt.validate", "kopt.validate -> kopt.schemas"]),
        (
            ["kopt.tracking", "kopt.training"],
            ["kopt.tracking -> kopt.training.curves", "kopt.training.run -> kopt.tracking"],
        ),
    ]
    floor = floors(edges)
    assert floor["kopt.schemas"] == SCHEMAS < CONFIG == layer("kopt.validate")
    assert ("kopt.schemas.model", "kopt.validate") in room_arrows(edges)


def option_modules(group: str, heavy: tuple[str, ...] = ("tensorflow", "keras")) -> dict[str, str]:
    """Every registered option of ``group`` (kopt's own and an installed plugin's) -> the module its
    schema is defined in, read in a fresh interpreter that imports what validation imports (the schema
    registry and the option modules it finds); fails if that loaded one of the ``heavy`` modules."""
    import json
    import os
    import subprocess
    import sys

    probe = (
        "import json, sys\n"
        "from kopt.schemas import SCHEMAS\n"
        f"homes = {{n: SCHEMAS[{group!r}].get(n).__module__ for n in SCHEMAS[{group!r}]}}\n"
        f"print(json.dumps([homes, sorted(m for m in {heavy!r} if m in sys.modules)]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT.parent)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    homes, loaded = json.loads(out.stdout.splitlines()[-1])
    assert loaded == [], f"importing the {group} schemas loaded {loaded}"
    return homes


def option_yamls(group: str) -> list[str]:
    from kopt.paths import config_dir

    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml"))


def test_each_augmentation_is_one_yaml_and_one_module_with_its_schema_and_builder():
    """An option is one YAML file and one module, whether kopt's own or a plugin's: for every
    configs/augment/<name>.yaml, the schema and the builder (recipe) are defined in the same module,
    one module per option, and importing those modules (what validation does) loads no TensorFlow."""
    from kopt.data.augment import RECIPES

    names = option_yamls("augment")
    schemas = option_modules("augment")
    assert names and sorted(schemas) == names
    assert schemas == {n: RECIPES.get(n).__module__ for n in names}
    assert schemas == {n: f"kopt.data.augments.{n}" for n in names}  # one module per option, named after it


@pytest.mark.parametrize(
    "group, home, builders",
    [
        ("tuner", "kopt.tune.planning.tuners", "SAMPLERS"),
        ("pruner", "kopt.tune.planning.pruners", "PRUNERS"),
    ],
)
def test_each_tuner_and_pruner_is_one_yaml_and_one_module_with_its_schema_and_builder(group, home, builders):
    """As for augmentations: for every configs/<group>/<name>.yaml, the schema and the builder (an Optuna
    sampler or pruner) are defined in the same module, one module per option, inside ``home``; importing
    those modules (what validation does) loads no Optuna, TensorFlow or Keras. ``auto`` has a module with
    its schema and no builder: the plan replaces it by the option it chooses (kopt.tune.planning.auto)."""
    import importlib

    names = option_yamls(group)
    schemas = option_modules(group, ("optuna", "tensorflow", "keras"))
    assert names and sorted(schemas) == names
    registry = getattr(importlib.import_module(home), builders)
    assert "auto" in names and "auto" not in registry
    built = {n: registry.get(n).__module__ for n in names if n != "auto"}
    assert {n: m for n, m in schemas.items() if n != "auto"} == built
    assert schemas == {n: f"{home}.{n}" for n in names}  # one module per option, named after it


def test_each_model_is_one_module_with_its_schema_and_builder():
    """As for augmentations, kopt's own models as a plugin's: every registered model option's schema
    and builder are defined in the same module, one module per option (kopt's own in kopt/models/zoo/,
    named after it), and importing those modules (what validation, --cfg and kopt models do) loads no
    TensorFlow, Keras or numpy: the builders import them inside. Each of kopt's own has its
    configs/model/<name>.yaml (beside presets such as resnet20 that build on one)."""
    from kopt.models import MODELS

    schemas = option_modules("model", ("numpy", "tensorflow", "keras"))
    assert schemas == {n: MODELS.get(n).__module__ for n in MODELS}
    own = {n: m for n, m in schemas.items() if m.startswith("kopt.")}
    assert own == {n: f"kopt.models.zoo.{n}" for n in own}  # one module per option, named after it
    assert {"mlp", "cnn", "resnet", "densenet", "wrn", "custom", "keras_app"} <= set(own)
    assert set(own) <= set(option_yamls("model"))
