"""Issue 29, item 5: kopt's outputs open in the user's own tools. Each run and trial writes
TensorBoard HParams data (its parameters against its final metrics) into a folder named readably,
so TensorBoard lists it as `trial 3`, `retrain 3` or the run's `name`; a study attaches each completed trial's curves.png through Optuna's artifact store, for
optuna-dashboard; the commands docs/tune.md and docs/report.md give for optuna-dashboard,
TensorBoard and MLflow open those outputs (each started on 127.0.0.1, one page read, stopped)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, TINY, run_kopt

PNG = b"\x89PNG\r\n\x1a\n"


def tensorboard_runs(logdir: Path) -> set[str]:
    """The run names TensorBoard itself lists for ``tensorboard --logdir LOGDIR``."""
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    return set(EventMultiplexer().AddRunsFromDirectory(str(logdir)).Runs())


def hparams_of(tb_dir: Path) -> dict:
    """{session name, hparams} of the HParams plugin data in the events of ``tb_dir`` itself."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(tb_dir))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")
    data = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    info = data.session_start_info
    values = {}
    for name, value in info.hparams.items():
        kind = value.WhichOneof("kind")
        values[name] = getattr(value, kind)
    from tensorboard.util.tensor_util import make_ndarray  # tf.summary's scalars are tensors here

    finals = {
        tag: float(make_ndarray(acc.Tensors(tag)[-1].tensor_proto))
        for tag in acc.Tags()["tensors"]
        if tag.startswith("final/")
    }
    return {"name": info.group_name, "hparams": values, "final": finals}


def test_a_train_run_writes_tensorboard_hparams_with_its_final_metrics(tmp_path):
    proc = run_kopt("train", *TINY, "regularizer.dropout=0.25", "optimizer.lr=0.003", "name=lr check", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = (tmp_path / "runs" / "train").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert tensorboard_runs(run_dir / "tb") == {"lr check", "lr check/train", "lr check/validation"}
    got = hparams_of(run_dir / "tb" / "lr check")
    assert got["hparams"]["regularizer.dropout"] == pytest.approx(0.25)
    assert got["hparams"]["optimizer.lr"] == pytest.approx(0.003)
    assert got["hparams"]["model"] == "mlp" and got["hparams"]["model.width"] == 16
    assert got["name"] == ""  # no group: the HParams tab names the session by its folder, 'lr check'
    assert got["final"]["final/val_accuracy"] == pytest.approx(summary["metrics"]["val_accuracy"], abs=1e-6)
    assert got["final"]["final/test_accuracy"] == pytest.approx(summary["metrics"]["test_accuracy"], abs=1e-6)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("study")
    proc = run_kopt(
        "tune",
        *TINY,
        "tuner=random",
        "tuner.n_trials=2",
        "trainer.epochs=1",
        "search.regularizer.dropout=interval(0.0, 0.5)",
        "tuner.plots=false",  # the study's own PNG plots: no tool here opens them (tests/test_tune_*.py draw them)
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (study_dir,) = (cwd / "runs" / "tune").iterdir()
    return cwd, study_dir


def test_a_study_attaches_each_trials_curves_and_names_its_tensorboard_sessions(study):
    import optuna

    from kopt.tune.store.storage import open_storage

    _, study_dir = study
    storage = open_storage(str(study_dir / "journal.log"))
    loaded = optuna.load_study(study_name=study_dir.name, storage=storage)
    complete = [t for t in loaded.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 2
    store = optuna.artifacts.FileSystemArtifactStore(str(study_dir / "artifacts"))
    metas = {m.filename: m for m in optuna.artifacts.get_all_artifact_meta(loaded, storage=storage)}
    assert sorted(metas) == sorted(f"trial_{t.number}_curves.png" for t in complete), metas
    for t in complete:
        with store.open_reader(metas[f"trial_{t.number}_curves.png"].artifact_id) as fh:
            assert fh.read(8) == PNG
        got = hparams_of(study_dir / "tb" / f"trial {t.number}")
        assert got["name"] == ""
        assert got["hparams"]["regularizer.dropout"] == pytest.approx(t.params["regularizer.dropout"])
        assert got["final"]["final/val_accuracy"] == pytest.approx(t.value, abs=1e-6)


def test_tensorboard_lists_a_studys_trials_and_retrain_by_readable_names(study):
    _, study_dir = study
    summary = json.loads((study_dir / "summary.json").read_text())
    best = summary["retrain"]["trial"]
    runs = {f"trial {n}{part}" for n in (0, 1) for part in ("", "/train", "/validation")}
    runs |= {f"retrain {best}", f"retrain {best}/train"}  # (trained on train+val: no validation data)
    assert tensorboard_runs(study_dir / "tb") == runs  # tensorboard --logdir runs/tune/<study>/tb
    assert tensorboard_runs(study_dir) == {f"tb/{run}" for run in runs}  # --logdir runs/tune/<study>
    assert not list((study_dir / "trials").glob("*/tb")) and not list((study_dir / "retrain").glob("*/tb"))
    retrain = hparams_of(study_dir / "tb" / f"retrain {best}")
    assert retrain["final"]["final/test_accuracy"] == pytest.approx(summary["retrain"]["test_accuracy"], abs=1e-6)


def test_tensorboard_lists_a_kfold_runs_folds_under_its_name(tmp_path):
    proc = run_kopt("train", *TINY, "trainer.epochs=1", "split=kfold", "split.k=2", "name=kf", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = (tmp_path / "runs" / "train").iterdir()
    folds = {f"kf/fold {k}/{part}" for k in (0, 1) for part in ("train", "validation")}
    assert tensorboard_runs(run_dir) == {f"tb/{run}" for run in {"kf", *folds}}  # --logdir <run dir>
    assert tensorboard_runs(tmp_path / "runs") == {f"train/{run_dir.name}/tb/{run}" for run in {"kf", *folds}}
    got = hparams_of(run_dir / "tb" / "kf")
    assert got["hparams"]["split"] == "kfold"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def documented(command: str) -> str:
    """The line of docs/tune.md or docs/report.md that starts with ``command``."""
    for doc in ("tune.md", "report.md"):
        for line in (ROOT / "docs" / doc).read_text().splitlines():
            if line.startswith(command):
                return line.split("#")[0].strip()
    pytest.fail(f"no '{command}' line in docs/tune.md or docs/report.md")


def serve_one_page(argv: list[str], cwd: Path, port: int, timeout: float = 90.0) -> int:
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"{argv[0]} ended: {proc.stdout.read().decode(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    return response.status
            except OSError:
                time.sleep(0.5)
        pytest.fail(f"{argv[0]} did not answer on 127.0.0.1:{port} within {timeout} s")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def tool(name: str) -> str:
    path = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(path).exists():
        pytest.skip(f"{name} is not installed")
    return path


@pytest.mark.parametrize("command", ["optuna-dashboard", "tensorboard", "mlflow ui"])
def test_the_documented_commands_open_kopts_outputs(study, command):
    cwd, study_dir = study
    if command == "optuna-dashboard" and importlib.util.find_spec("optuna_dashboard") is None:
        pytest.skip("optuna-dashboard is not installed")
    line = documented(command).replace("<study>", study_dir.name)
    port = free_port()
    exe, *args = line.split()
    argv = [tool(exe), *args, "--host", "127.0.0.1", "--port", str(port)]
    (cwd / "runs" / "mlflow").mkdir(exist_ok=True)
    assert serve_one_page(argv, cwd, port) == 200
