"""``model_card.md``: what an exported model is, how well it did and how it was trained."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

import yaml

from kopt.errors import KoptError
from kopt.predict.source import Source
from kopt.rundir.names import TEST_ACCURACY, TEST_LOSS, folds_averaged, mean_of_folds
from kopt.runfiles import read_json_object, read_yaml

USAGE = {
    "keras": 'model = keras.saving.load_model("{file}", safe_mode=True)\nprobs = model.predict(x)',
    "saved_model": 'model = tf.saved_model.load("{file}")\nprobs = model.serve(x).numpy()',
    "onnx": 'session = onnxruntime.InferenceSession("{file}")\n'
    "probs = session.run(None, {{session.get_inputs()[0].name: x}})[0]",
    "litert": 'interpreter = ai_edge_litert.interpreter.Interpreter(model_path="{file}")  # or tf.lite.Interpreter\n'
    "then resize_tensor_input to x.shape, allocate_tensors, set_tensor, invoke, get_tensor",
}


def _pm(metrics: dict, key: str) -> str:
    value = metrics.get(key)
    if not isinstance(value, (int, float)):
        return "-"
    std = metrics.get(f"{key}_std")
    return f"{value:.4f}" + (f" ± {std:.4f}" if isinstance(std, (int, float)) else "")


def _averaged(source: Source, summary: dict, task: str) -> dict:
    """The test scores of the run's folds averaged into one model: summary.json's ``folds_averaged``,
    else (a run of an older kopt, which knew classes only) computed from predictions.npz, whose
    ``probs`` are that average."""
    from kopt.rundir import FOLDS_AVERAGED

    recorded = summary.get(FOLDS_AVERAGED)
    if isinstance(recorded, dict) and any(_is_test_score(k, v) for k, v in recorded.items()):
        return recorded
    if task != "multiclass":
        return {}
    try:
        import numpy as np

        saved = source.run.predictions
        probs, y = saved["probs"], saved["y_true"]
        p = np.clip(probs[np.arange(len(y)), y].astype("float64"), 1e-7, 1.0)
        return {TEST_ACCURACY: float((probs.argmax(axis=1) == y).mean()), TEST_LOSS: float(-np.log(p).mean())}
    except (KoptError, OSError, ValueError, KeyError, IndexError):
        return {}


def _is_test_score(key: str, value) -> bool:
    return key.startswith("test_") and not key.endswith("_std") and isinstance(value, (int, float))


def _score_keys(metrics: dict) -> list[str]:
    """The run's scores in the card's order: validation, then test, then test-time augmentation;
    each group in the order the run recorded them (the task's and trainer.metrics' own names)."""
    names = [k for k, v in metrics.items() if not k.endswith("_std") and isinstance(v, (int, float))]

    def rank(key: str) -> int:
        return 2 if key.endswith("_tta") else (0 if key.startswith("val_") else 1)

    return sorted((k for k in names if k.startswith(("val_", "test_"))), key=rank)


def _metric_lines(source: Source, metrics: dict, summary: dict, n_folds: int) -> list[str]:
    """The score of the model the card describes first, then the fold models' (for k folds: their
    mean ± std, each figure named)."""
    keys = _score_keys(metrics)
    task = source.task
    lines = []
    whole_run = source.kind in ("run", "study") and source.n_models == n_folds
    if n_folds > 1 and whole_run:
        averaged = _averaged(source, summary, task)
        what = f"{folds_averaged(n_folds)}: this model"
        lines += [
            f"This model averages the {n_folds} fold models' {'values' if task == 'regression' else 'probabilities'}.",
            "",
            "| metric | value |",
            "|---|---|",
        ]
        tests = [k for k in keys if k.startswith("test_") and not k.endswith("_tta")]
        for key in tests or [k for k, v in averaged.items() if _is_test_score(k, v)]:
            value = averaged.get(key)
            lines.append(f"| {key} ({what}) | " + (f"{value:.4f}" if isinstance(value, (int, float)) else "-") + " |")
        lines += ["", f"Each fold model on its own: {mean_of_folds(n_folds)} ± their standard deviation.", ""]
        lines += [f"| metric | {mean_of_folds(n_folds)} ± std |", "|---|---|"]
    elif n_folds > 1:
        lines += [f"The first member's run, its fold models: {mean_of_folds(n_folds)} ± their standard deviation.", ""]
        lines += [f"| metric | {mean_of_folds(n_folds)} ± std |", "|---|---|"]
    else:
        lines += ["| metric | value |", "|---|---|"]
    for key in keys:
        lines.append(f"| {key} | {_pm(metrics, key)} |")
    return lines


def training_command(source: Source) -> str:
    """The command that trained the (first) member, from its .hydra/overrides.yaml."""
    run = source.run
    if source.study is not None and source.trial is not None and run.path.parent.name == "retrain":
        return (
            f"kopt tune (study {source.study}); the best trial {source.trial} retrained on train+val. The same "
            f"config: kopt train --config-dir {source.study} --config-name best"
        )
    try:
        overrides = read_yaml(run.path / ".hydra" / "overrides.yaml", root=run.path)
    except (FileNotFoundError, ValueError):
        overrides = None
    if not isinstance(overrides, list):
        return "not recorded (no .hydra/overrides.yaml); the config below is complete"
    prefix = f"kopt tune (study {source.study}), trial {source.trial}: " if source.study else ""
    return prefix + " ".join(["kopt", "train", *(shlex.quote(str(o)) for o in overrides)])


OUTPUTS = {
    "multiclass": "one probability per class, in the order below",
    "binary": "one probability per class, in the order below",
    "multilabel": "one probability per label (independent sigmoids), in the order below",
    "regression": "one predicted value per example (no activation)",
}


def _target_line(source: Source) -> str:
    data, task = source.data, source.task
    if task == "regression":
        return "- target: a value per example (dataset.task=regression)"
    what = "labels" if task == "multilabel" else "classes"
    return f"- {what} ({data.get('classes')}): {', '.join(source.class_names)}" + (
        f" (dataset.task={task})" if task != "multiclass" else ""
    )


def model_card(source: Source, fmt: str, file: str, params: int, flops: int, command: str) -> str:
    run, data = source.run, source.data
    summary, config = run.summary.to_dict(), run.config
    metrics = summary.get("metrics") or {}
    n_folds = len(summary.get("folds") or [])
    lines = [
        f"# Model card: {source.description}",
        "",
        f"- format: {fmt}, file: `{file}`",
        f"- exported: {datetime.now(UTC).isoformat(timespec='seconds')} by `{command}`",
        f"- source: `{source.path}` ({source.kind}; {source.n_models} saved model(s)"
        + (", averaged into one" if source.n_models > 1 else "")
        + ")",
        "- input: raw examples of shape "
        + str(tuple(data.get("input_shape") or ()))
        + f" (the model normalises them itself); output: {OUTPUTS.get(source.task, OUTPUTS['multiclass'])}",
        "",
        "## Data",
        "",
        f"- dataset: {data.get('name')}, {data.get('n')} examples, {data.get('n_test')} of them the test set",
        _target_line(source),
        "",
        "## Split",
        "",
        f"- {yaml.safe_dump(config.get('split'), default_flow_style=True, sort_keys=False).strip()}",
        f"- seed {summary.get('seed')}, protocol {summary.get('protocol', 'best_epoch')}",
        "",
        "## Metrics",
        "",
        "test: the held-out test set, never trained on.",
        "",
    ]
    lines += _metric_lines(source, metrics, summary, n_folds)
    if source.kind == "ensemble":
        info = read_json_object(source.path / "ensemble.json", root=source.path)
        ens = info.get("ensemble") or {}
        for name, value in ens.items():  # the task's scores: accuracy and loss, or mae and rmse
            if isinstance(value, (int, float)):
                lines.append(f"| ensemble test_{name} ({info.get('method')}) | {value:.4f} |")
        lines += [
            "",
            "Members: "
            + ", ".join(
                f"`{m.run.path}` ({', '.join(f.name for f in m.files)}, weight {m.weight:.3g})" for m in source.members
            ),
        ]
    lines += [
        "",
        "## Model",
        "",
        f"- parameters: {params:,}" + (f" (all {source.n_models} models)" if source.n_models > 1 else ""),
        f"- FLOPs per example: {flops:,} (2 × multiply-adds of convolutions and dense layers)",
        f"- choices: {', '.join(f'{k}={v}' for k, v in (summary.get('choices') or {}).items())}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in (summary.get('versions') or {}).items())}",
        "",
        "## How it was trained",
        "",
        f"    {training_command(source)}",
        "",
        "## Use",
        "",
        "```python",
        USAGE[fmt].format(file=file).replace("probs", "values" if source.task == "regression" else "probs"),
        "```",
        "",
        "## Config",
        "",
        "```yaml",
        yaml.safe_dump(config, sort_keys=False).rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)
