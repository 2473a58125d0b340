"""``kopt models``: parameters, FLOPs per image, depth and weight memory of models.

With no model override every preset of the ``model`` group is listed; with ``model=...``
and/or ``model.<key>=...`` (or ``experiment=...``) the one model they describe. The input is
CIFAR-sized (32x32x3, 10 classes) unless ``dataset=...`` picks a dataset. Configs are composed
and validated before TensorFlow is imported.
"""

from __future__ import annotations

import json
import sys

from omegaconf import OmegaConf

from kopt.compose import (
    check_group_choices,
    compose_job,
    expand_jobs,
    group_options,
    parse_overrides,
    search_dirs,
    split_argv,
)
from kopt.custom_argv import open_custom_keys
from kopt.errors import KoptError
from kopt.validate import validate_group

USAGE = """\
Usage: kopt models [dataset=NAME] [model=NAME] [model.KEY=VALUE ...] [regularizer...] [--json] [-m]

Show what models cost: parameters (all weights, batch-norm statistics included), FLOPs per image
(2 x the multiply-adds of the conv and dense layers, counted from the built graph), depth (as the
paper names it; weight layers for mlp/cnn) and the memory of the weights.

  kopt models                                  every preset of the model group, 32x32x3 input
  kopt models dataset=digits                   the same for the digits input shape (8x8x1)
  kopt models model=resnet model.depth=56      one model
  kopt models -m model=wrn model.width=1,2,4   one row per value (a sweep, as in kopt train -m)
  kopt models --json                           a JSON list: name, family, model, params, trainable_params,
                                               flops, depth, weights_bytes, input_shape, classes

Model keys: resnet: depth (6n+2), version (1|2), shortcut (A|B); densenet: depth, growth_rate,
compression, bottleneck, dropout, init_filters; wrn: depth (6n+4), width, dropout;
mlp: width, depth; cnn: width, depth, convs_per_block, kernel_size, dense; custom (your own model,
listed when named): _target_ and keys of your own, e.g. model=custom model._target_=mynets.build
model.width=32 (depth: its Dense and Conv layers; docs/custom.md).
"""

# The paper tables count CIFAR-sized input; a synthetic dataset gives that shape without any file.
DEFAULT_INPUT = ["dataset=synthetic", "dataset.shape=[32,32,3]", "dataset.classes=10"]
OWN_FLAGS = {"--json", "-m", "--multirun", "--config-dir", "-cd"}


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _overrides_group(overrides: list[str], group: str) -> bool:
    return any(_key(o) == group or _key(o).startswith(group + ".") for o in overrides)


def _label(job: list[str], cfg) -> str:
    choices = [o.split("=", 1)[1] for o in job if _key(o) == "model" and "=" in o]
    return choices[-1] if choices else str(cfg.model.name)


def plan(argv: list[str]) -> tuple[list[tuple[str, object]], bool]:
    """Compose and validate every row's config: [(label, cfg)], and whether --json was asked."""
    line = split_argv(open_custom_keys(argv))
    unknown = [f for f in line.flags if f not in OWN_FLAGS]
    if unknown:
        raise KoptError(f"{unknown[0]}: unknown flag for kopt models; allowed: --json, -m, --config-dir, --help")
    dirs = search_dirs(line.user_config_dir)
    groups = group_options(dirs)
    parsed = parse_overrides(line.overrides)
    check_group_choices(parsed, groups)
    jobs = expand_jobs(parsed, line.multirun)
    one_model = _overrides_group(line.overrides, "model") or _overrides_group(line.overrides, "experiment")
    if not any(_key(o) in ("dataset", "experiment") for o in line.overrides):
        jobs = [DEFAULT_INPUT + job for job in jobs]
    if not one_model:
        presets = sorted(p for p in groups.get("model", ()) if p != "custom")  # (custom needs a _target_)
        jobs = [[f"model={p}", *job] for job in jobs for p in presets]
    rows = []
    for job in jobs:
        cfg = compose_job("config", job, dirs)
        for group in ("model", "regularizer", "dataset"):
            # a dataset's files are only read if its shape is not known without them
            validate_group(cfg, group, machine=False)
        rows.append((_label(job, cfg), cfg))
    return rows, "--json" in line.flags


def input_signature(dataset_cfg, seed: int) -> tuple[tuple[int, ...], int]:
    """(input shape, classes) of a dataset, from its config where that tells (the ``signature`` fact
    a dataset states with its schema), else by loading it."""
    from kopt.schemas.dataset import input_signature as known

    signature = known(dataset_cfg)
    if signature is not None:
        return signature
    from kopt.data.datasets import load_dataset

    data = load_dataset(dataset_cfg, seed)
    return data.input_shape, data.num_classes


def measure(rows: list[tuple[str, object]]) -> list[dict]:
    from kopt.runtime import setup_tensorflow

    setup_tensorflow(0, deterministic=False)
    import keras

    from kopt.models.summary import describe

    signatures: dict[str, tuple] = {}
    out = []
    for label, cfg in rows:
        key = json.dumps(OmegaConf.to_container(cfg.dataset), sort_keys=True)
        if key not in signatures:
            signatures[key] = input_signature(cfg.dataset, int(cfg.seed))
        shape, classes = signatures[key]
        try:
            info = describe(cfg.model, cfg.regularizer, shape, classes)
        except KoptError as exc:
            if len(rows) == 1:
                raise
            # listing every preset: a model that cannot take this input is a row, not the end
            info = {
                "error": str(exc),
                "params": None,
                "flops": None,
                "depth": None,
                "weights_bytes": None,
                "input_shape": list(shape),
                "classes": classes,
            }
        out.append({"name": label, "family": str(cfg.model.name), **info})
        keras.backend.clear_session()
    from kopt.schemas import SCHEMAS

    order = {name: i for i, name in enumerate(SCHEMAS["model"])}
    return sorted(out, key=lambda r: (order.get(r["family"], len(order)), r["params"] or 0))


def _three_digits(value: float) -> str:
    return f"{value:.{2 if value < 10 else 1 if value < 100 else 0}f}"


def _si(value: float) -> str:
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{_three_digits(value / scale)} {prefix}"
    return f"{value:.0f}"


def _bytes(value: int) -> str:
    for scale, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if value >= scale:
            return f"{_three_digits(value / scale)} {unit}"
    return f"{value} B"


def table(rows: list[dict]):
    from rich import box
    from rich.table import Table

    shapes = {("x".join(map(str, r["input_shape"])), r["classes"]) for r in rows}
    caption = "; ".join(f"input {s}, {c} classes" for s, c in sorted(shapes))
    t = Table(
        title="kopt models",
        caption=caption + "; FLOPs per image = 2 x multiply-adds of conv/dense layers",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    # In a narrow terminal (80 columns) the names fold onto a second line, so that rich need not squeeze
    # the numbers: with every column no_wrap it cut them ("36,497,1…", "10.5…").
    for col in ("name", "model"):
        t.add_column(col, justify="left", overflow="fold")
    for col in ("depth", "params", "FLOPs", "weights"):
        t.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        if r.get("error"):
            t.add_row(r["name"], f"[dim]{r['error'].split(';')[0]}[/]", "-", "-", "-", "-")
            continue
        t.add_row(
            r["name"], r["model"], str(r["depth"]), f"{r['params']:,}", _si(r["flops"]), _bytes(r["weights_bytes"])
        )
    return t


def main(argv: list[str]) -> None:
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE, end="")
        return
    rows, as_json = plan(argv)
    results = measure(rows)
    if as_json:
        json.dump(results, sys.stdout, indent=2)
        print()
        return
    from kopt.console import console

    console.print(table(results))
