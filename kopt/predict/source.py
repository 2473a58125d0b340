"""SOURCE of ``kopt predict``/``kopt export``: a train run, a study or an ensemble dir, as members.

A member is one saved model (a fold) or the average of a run's fold models, with its weight in
the average. Only JSON, YAML and file names are read here: no TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from kopt.errors import KoptError
from kopt.rundir import RunDir, load_run
from kopt.runfiles import check_inside, read_json_object


@dataclass
class Member:
    run: RunDir
    files: list[Path]  # averaged with equal weights: the fold models of a run, or one fold
    weight: float


@dataclass
class Source:
    path: Path
    kind: str  # run | study | ensemble
    members: list[Member]
    description: str  # one line: what the model is
    study: Path | None = None
    trial: int | None = None

    @property
    def run(self) -> RunDir:
        """The run whose data and config describe the model (the first member's)."""
        return self.members[0].run

    @property
    def data(self) -> dict:
        data = self.run.summary.data
        return data if isinstance(data, dict) else {}

    @property
    def task(self) -> str:
        """dataset.task as the run resolved it (runs before tasks: multiclass)."""
        return str(self.data.get("task") or "multiclass")

    @property
    def class_names(self) -> list[str]:
        """The classes (multilabel: the labels) of the model's outputs; a regression's: none."""
        if self.task == "regression":
            return []
        names = self.data.get("class_names")
        if not isinstance(names, list) or len(names) < 2:
            raise KoptError(f"{self.run.path}: summary.json has no data.class_names (trained by an older kopt?)")
        return [str(n) for n in names]

    @property
    def n_models(self) -> int:
        return sum(len(m.files) for m in self.members)


def model_files(run: RunDir, fold: int | None = None) -> list[Path]:
    """The saved model of each fold of ``run`` (or of fold ``fold`` only)."""
    n = len(run.folds)
    names = ["model.keras"] if n == 1 else [f"model_fold{k}.keras" for k in range(n)]
    if fold is not None:
        if not 0 <= fold < n:
            raise KoptError(f"{run.path}: no fold {fold}; allowed: 0 .. {n - 1}")
        names = [names[fold] if n > 1 else names[0]]
    files = [run.path / name for name in names]
    for f in files:  # as the run's JSON files: a link that leads outside the run dir is not followed
        check_inside(f, run.path)
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise KoptError(f"{run.path}: no {missing[0]} (was it trained with trainer.checkpoint=false?)")
    return files


def _run_source(path: Path) -> Source:
    run = load_run(path)
    n = len(run.folds)
    what = f"train run {path}" + (f" ({n} fold models, averaged)" if n > 1 else "")
    return Source(path, "run", [Member(run, model_files(run), 1.0)], what)


def _study_source(path: Path, trial: int | None) -> Source:
    if trial is not None:
        run_dir = path / "trials" / str(trial)
        done = sorted(
            (
                p.name
                for p in (path / "trials").iterdir()
                if (p / "model.keras").is_file() or (p / "model_fold0.keras").is_file()
            ),
            key=lambda s: (len(s), s),
        )
        if not run_dir.is_dir():
            raise KoptError(f"--trial {trial}: no such trial in {path}; allowed: {', '.join(done) or 'none'}")
        summary = read_json_object(path / "summary.json", root=path) if (path / "summary.json").is_file() else {}
        keep = summary.get("keep_models")
        if str(trial) not in done and isinstance(keep, int) and (run_dir / "summary.json").is_file():
            raise KoptError(  # a study keeps the models of its best trials only (docs/tune.md, lean trials)
                f"--trial {trial}: its model was not kept (tuner.keep_models={keep} keeps the models of the "
                f"study's {keep} best trials by validation); allowed: {', '.join(done) or 'none'}"
            )
        source = _run_source(run_dir)
        source.description = f"trial {trial} of study {path}"
        source.kind, source.study, source.trial = "study", path, trial
        return source
    summary_path = path / "summary.json"
    if not summary_path.is_file():
        raise KoptError(f"{path}: no summary.json (the study has not finished); pick a trial with --trial N")
    summary = read_json_object(summary_path, root=path)
    retrain = summary.get("retrain") if isinstance(summary.get("retrain"), dict) else {}
    if retrain.get("run_dir") and not retrain.get("error") and (path / str(retrain["run_dir"])).is_dir():
        source = _run_source(path / str(retrain["run_dir"]))
        source.description = f"the best trial ({retrain.get('trial')}) of study {path}, retrained on train+val"
        best = retrain.get("trial")
    elif summary.get("best_run_dir"):
        source = _run_source(path / str(summary["best_run_dir"]))
        source.description = f"the best trial of study {path} (not retrained)"
        best = None
    else:
        raise KoptError(f"{path}: the study records no best trial; pick one with --trial N")
    source.kind, source.study, source.trial = "study", path, best if isinstance(best, int) else None
    return source


def _ensemble_source(path: Path) -> Source:
    info = read_json_object(path / "ensemble.json", root=path)
    rows = info.get("members")
    if not isinstance(rows, list) or len(rows) < 2 or not all(isinstance(r, dict) for r in rows):
        raise KoptError(f"{path / 'ensemble.json'}: no list of members")
    members, runs = [], {}
    for i, row in enumerate(rows):
        run_dir = Path(str(row.get("run_dir")))
        if not run_dir.is_dir():
            raise KoptError(
                f"{path}: member run dir {run_dir} is gone (ensemble.json records it relative to the "
                "folder kopt ensemble ran in; run kopt predict from there)"
            )
        key = str(run_dir.resolve())
        run = runs.setdefault(key, load_run(run_dir))
        fold = row.get("fold")
        weight = row.get("weight")
        weight = 1.0 / len(rows) if weight is None else weight
        number = isinstance(weight, (int, float)) and not isinstance(weight, bool)
        if not number or not math.isfinite(weight) or weight < 0:  # a NaN or negative weight: no mean
            raise KoptError(f"{path / 'ensemble.json'}: member {i} has weight {weight!r}; allowed: finite numbers >= 0")
        members.append(Member(run, model_files(run, fold if isinstance(fold, int) else None), float(weight)))
    if not sum(m.weight for m in members) > 0:
        raise KoptError(f"{path / 'ensemble.json'}: the members' weights sum to 0; allowed: a sum > 0")
    names = {tuple((m.run.summary.data or {}).get("class_names") or ()) for m in members}
    if len(names) > 1:
        raise KoptError(f"{path}: the members predict different classes; they cannot be averaged")
    method = info.get("method", "mean")
    what = f"ensemble {path} ({len(members)} members, {method}"
    what += "; exported as the mean of the members' probabilities)" if method == "vote" else ")"
    return Source(path, "ensemble", members, what)


def resolve(source: str, trial: int | None = None) -> Source:
    """SOURCE as members: a train run dir, a study dir (``--trial N``) or an ensemble dir."""
    path = Path(source)
    if not path.is_dir():
        raise KoptError(f"SOURCE {source}: no such folder; give a train run, a study or an ensemble dir")
    if (path / "trials").is_dir():
        return _study_source(path, trial)
    if trial is not None:
        raise KoptError(f"--trial {trial}: only for a study dir; {source} is not one")
    if (path / "ensemble.json").is_file():
        return _ensemble_source(path)
    if not (path / "summary.json").is_file():
        raise KoptError(
            f"SOURCE {source}: neither a train run (summary.json), a study (trials/) "
            "nor an ensemble dir (ensemble.json)"
        )
    return _run_source(path)
