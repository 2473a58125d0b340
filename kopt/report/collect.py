"""Find run dirs under any mix of paths and read each into a :class:`RunRecord`.

A path may be a run dir (runs/train/<ts>/), a sweep dir (runs/multirun/<ts>/ with one run
dir per job), a study dir (runs/tune/<study>/trials/<n>/) or runs/ itself. A run dir is
recognised by its summary.json or metrics.jsonl; a folder with only .hydra/ (a job that
never got going) counts too, unless it has sub-folders (then it is a sweep or study).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kopt.errors import KoptError
from kopt.rundir import COMPLETED, FOLD_METRICS, METRICS, SUMMARY, TEST_ACCURACY, load_run, read_metrics
from kopt.runfiles import BadFile, read_json_object, read_yaml

METRIC_KEYS = FOLD_METRICS  # the columns of a report: a run's means over its fold models
AVERAGED_KEY = "test_accuracy_folds_averaged"  # and its folds averaged into one model (CSV, JSON)
SKIP_DIRS = {"tb", "mlflow", "mlruns", "__pycache__"}


@dataclass
class RunRecord:
    path: Path
    status: str  # kopt.rundir.names: completed | failed | pruned | interrupted | running | died | unknown
    keys: dict[str, str] = field(default_factory=dict)  # group choices + overrides, e.g. model=mlp
    overrides: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    params: int | None = None
    duration_s: float | None = None
    n_folds: int = 0
    error: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    name: str | None = None
    averaged_test_accuracy: float | None = None  # the folds averaged into one model (a one-model run: its own)
    _config: object = field(default=None, repr=False, compare=False)  # .hydra/config.yaml, once read

    @property
    def completed(self) -> bool:
        return self.status == COMPLETED

    def curves(self) -> list[dict]:
        return read_metrics(self.path)

    def value(self, key: str) -> str | None:
        """``key`` in this run: its override or group choice, else its value in the run's composed
        config (.hydra/config.yaml: a default, e.g. model.width=128); None where the run has no such key."""
        if self.keys.get(key) is not None:
            return self.keys[key]
        if self._config is None:  # read once: a table asks for many keys of many runs
            try:
                self._config = read_yaml(self.path / ".hydra" / "config.yaml", self.path)
            except (OSError, BadFile):
                self._config = False
        node = self._config
        if node is False:
            return None
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        if isinstance(node, dict):  # a group: its option's name
            node = node.get("name")
        return None if node is None or isinstance(node, list) else str(node)

    def row(self, keys: list[str] | None = None) -> dict:
        """A flat dict for CSV/JSON: path, status, the given keys (all by default), metrics, the rest."""
        out = {"run": str(self.path), "status": self.status}
        for key in self.keys if keys is None else keys:
            out[key] = self.keys.get(key)
        for key in METRIC_KEYS:
            out[key] = self.metrics.get(key)
            out[key + "_std"] = self.metrics.get(key + "_std")
        from kopt.schemas.metrics import FOLD_SCORES  # trainer.metrics: val_auc, test_mae, ... when logged

        for key in FOLD_SCORES:
            if key not in METRIC_KEYS and key in self.metrics:
                out[key], out[key + "_std"] = self.metrics.get(key), self.metrics.get(key + "_std")
        out[AVERAGED_KEY] = self.averaged_test_accuracy
        out.update(
            {
                "folds": self.n_folds,
                "params": self.params,
                "duration_s": self.duration_s,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "overrides": " ".join(self.overrides),
                "error": self.error,
            }
        )
        return out


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _looks_like_run(path: Path) -> bool:
    if (path / "trials").is_dir():  # a study dir, whatever else it holds
        return False
    if (path / METRICS).exists():
        return True
    summary = path / SUMMARY
    if summary.exists() or summary.is_symlink():
        try:
            data = read_json_object(summary, root=path)
        except (BadFile, OSError):
            return True  # a broken summary still belongs to a run; it is reported as such
        return "folds" in data or "status" in data
    if (path / ".hydra" / "config.yaml").is_file():
        return not any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir())
    return False


def find_run_dirs(paths: list[str | Path]) -> list[Path]:
    """Every run dir at or under ``paths`` (in the order given, then natural order), without duplicates."""
    found: list[Path] = []
    seen: set[Path] = set()

    def walk(path: Path) -> None:
        if _looks_like_run(path):
            if path.resolve() not in seen:
                seen.add(path.resolve())
                found.append(path)
            return
        children = (p for p in path.iterdir() if p.is_dir() and not p.is_symlink())  # links may loop or leave
        for child in sorted(children, key=_natural_key):
            if not child.name.startswith(".") and child.name not in SKIP_DIRS:
                walk(child)

    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise KoptError(f"{raw}: no such file or folder")
        if path.is_file():
            path = path.parent  # e.g. a summary.json given directly
        walk(path)
    return found


def parse_override(text: str) -> tuple[str, str] | None:
    key, eq, value = text.partition("=")
    if not eq or key.startswith("~"):
        return None
    return key.lstrip("+"), value


def read_record(run_dir: Path) -> RunRecord:
    """The record of one run dir (read leniently by kopt.rundir.load_run); BadFile (naming the
    file) if a file in it cannot be used."""
    run = load_run(run_dir, strict=False)
    summary = run.summary
    keys = {k: str(v) for k, v in (summary.choices or {}).items()}
    if summary.seed is not None:
        keys["seed"] = str(summary.seed)
    for text in run.overrides:
        parsed = parse_override(text)
        if parsed and not parsed[0].startswith("hydra"):
            keys[parsed[0]] = parsed[1]
    metrics = {
        k: float(v)
        for k, v in (summary.metrics or {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    averaged = (summary.folds_averaged or {}).get(TEST_ACCURACY) if isinstance(summary.folds_averaged, dict) else None
    if len(summary.folds) == 1:
        averaged = metrics.get(TEST_ACCURACY)
    return RunRecord(
        averaged_test_accuracy=float(averaged) if isinstance(averaged, (int, float)) else None,
        path=run_dir,
        status=summary.status,
        keys=keys,
        overrides=run.overrides,
        metrics=metrics,
        params=summary.params,
        duration_s=summary.duration_s,
        n_folds=len(summary.folds),
        error=summary.error,
        started_at=summary.started_at,
        finished_at=summary.finished_at,
        name=summary.extra.get("name"),
    )


def collect(paths: list[str | Path]) -> list[RunRecord]:
    """The records of every run dir under ``paths``; a run dir with a bad file is left out, with one line."""
    dirs = find_run_dirs(paths)
    if not dirs:
        raise KoptError(f"no run dirs found under {', '.join(map(str, paths))} (a run dir holds summary.json)")
    records = []
    for d in dirs:
        try:
            records.append(read_record(d))
        except BadFile as exc:
            print(f"kopt: warning: {exc}; run left out", file=sys.stderr)
    if not records:
        raise KoptError(f"no readable run dirs under {', '.join(map(str, paths))}")
    return records


def is_seed_key(key: str) -> bool:
    return key == "seed" or key.endswith(".seed")


def varying_keys(records: list[RunRecord], include_seed: bool = True) -> list[str]:
    """Keys whose value differs between records (first-seen order): what tells the runs apart."""
    order: list[str] = []
    for rec in records:
        order.extend(k for k in rec.keys if k not in order)
    out = [k for k in order if len({rec.keys.get(k) for rec in records}) > 1]
    return out if include_seed else [k for k in out if not is_seed_key(k)]
