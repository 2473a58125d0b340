"""model=custom: your own Keras model named by model._target_, and the trust rule for a _target_
(kopt.targets): a config read back from a run dir, a best.yaml or a study never runs other code."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY, TINY_DATA, assert_clean_error, only_run_dir, read_summary, run_kopt, run_python
from omegaconf import OmegaConf

from kopt.errors import KoptError

keras = pytest.importorskip("keras")

from kopt.models import build_model  # noqa: E402

NO_REG = {"name": "none", "l1": 0.0, "l2": 0.0, "dropout": 0.0, "batchnorm": True, "bn_momentum": 0.99}
L2 = {**NO_REG, "name": "l2", "l2": 1e-3}
CUSTOM = ["model=custom", "model._target_=mynets.build"]

MYNETS = """
import keras


def build(input_shape, num_outputs, width=8, head=None):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(width, activation="relu", name="hidden")(x)
    return keras.Model(inputs, keras.layers.Dense(num_outputs, activation=head, name="logits")(x), name="mynet")


def two_outputs(input_shape, num_outputs):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, [keras.layers.Dense(num_outputs)(x), keras.layers.Dense(1)(x)])


def wrong_width(input_shape, num_outputs):
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, keras.layers.Dense(num_outputs + 1)(keras.layers.Flatten()(inputs)))


def not_a_model(input_shape, num_outputs):
    return "a string"


NOT_CALLABLE = 3
"""


def write_mynets(folder: Path, name: str = "mynets", text: str = MYNETS) -> Path:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def in_folder(tmp_path, monkeypatch):
    """The test process in a fresh folder holding mynets.py (a module of yours)."""
    write_mynets(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KOPT_IMPORT_ROOTS", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the folder kopt adds goes with the test
    for name in ("mynets", "reexports", "evil", "runs"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield tmp_path
    for name in ("mynets", "reexports", "evil", "runs"):
        sys.modules.pop(name, None)


def custom(target: str = "mynets.build", **keys):
    return OmegaConf.create({"name": "custom", "_target_": target, **keys})


# -- building (in this process) -------------------------------------------------------------------


def test_the_target_gets_input_shape_num_outputs_and_the_keys_and_kopt_adds_the_softmax(in_folder):
    model = build_model(custom(width=5), NO_REG, (4, 3), 7)
    assert model.output_shape == (None, 7)
    assert model.layers[-1].name == "predictions" and model.layers[-1].activation.__name__ == "softmax"
    inner = model.get_layer("mynet")
    assert inner.get_layer("hidden").units == 5
    assert model.count_params() == (12 * 5 + 5) + (5 * 7 + 7)
    probs = model.predict(np.random.default_rng(0).normal(size=(3, 4, 3)), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_a_model_that_ends_in_softmax_gets_no_second_one(in_folder):
    model = build_model(custom(head="softmax"), NO_REG, (6,), 3)
    assert [layer.name for layer in model.layers] == ["inputs", "mynet"]
    x = np.random.default_rng(1).normal(size=(2, 6))
    np.testing.assert_allclose(model.predict(x, verbose=0), model.get_layer("mynet").predict(x, verbose=0))


@pytest.mark.parametrize(
    "target, keys, needle",
    [
        ("mynets.build", {"head": "sigmoid"}, "ends in sigmoid; allowed: logits"),
        ("mynets.two_outputs", {}, "returned a model with 2 outputs"),
        ("mynets.wrong_width", {}, "output has shape (None, 4); allowed: (batch, num_outputs) = (None, 3)"),
        ("mynets.not_a_model", {}, "returned str, not a keras.Model"),
    ],
)
def test_a_wrong_model_is_one_line(in_folder, target, keys, needle):
    with pytest.raises(KoptError) as err:
        build_model(custom(target, **keys), NO_REG, (6,), 3)
    assert needle in str(err.value) and f"model._target_={target}" in str(err.value)


def test_the_regularizer_penalises_every_dense_kernel_of_the_users_model(in_folder):
    model = build_model(custom(width=4), L2, (6,), 3)
    inner = model.get_layer("mynet")
    kernels = [inner.get_layer(n).kernel for n in ("hidden", "logits")]
    assert all(k.regularizer is not None and k.regularizer.l2 == pytest.approx(1e-3) for k in kernels)
    want = sum(1e-3 * float(np.sum(np.square(k.numpy()))) for k in kernels)
    assert float(sum(model.losses)) == pytest.approx(want, rel=1e-5)
    assert build_model(custom(width=4), NO_REG, (6,), 3).losses == []


def test_kopt_models_measures_a_custom_model(in_folder):
    from kopt.models.summary import describe

    info = describe(custom(width=5), NO_REG, (4, 3), 7)
    assert info["params"] == (12 * 5 + 5) + (5 * 7 + 7)
    assert info["flops"] == 2 * (12 * 5 + 5 * 7)
    assert info["depth"] == 2  # its Dense and Conv layers


# -- the trust rule (kopt.targets) ----------------------------------------------------------------

PLANTED = [
    "os.system",
    "subprocess.run",
    "builtins.eval",
    "importlib.import_module",
    "pickle.loads",
    "shutil.rmtree",
    "sys.exit",
    "keras.models.load_model",
    "keras.utils.get_file",
    "keras.callbacks.LambdaCallback",
]


@pytest.mark.parametrize("target", PLANTED)
def test_a_target_outside_your_modules_and_keras_is_refused_before_importing(in_folder, target):
    with pytest.raises(KoptError, match=r"not allowed.*allowed: a function or class of your own module"):
        build_model(custom(target, command="touch PWNED"), NO_REG, (6,), 3)
    assert not (in_folder / "PWNED").exists()


def test_an_object_your_module_imports_from_elsewhere_is_refused(in_folder):
    write_mynets(in_folder, "reexports", "import os\nfrom os import system\n")
    for target in ("reexports.os.system", "reexports.system"):
        with pytest.raises(KoptError, match="not something defined in reexports"):
            build_model(custom(target, command="touch PWNED"), NO_REG, (6,), 3)
    assert not (in_folder / "PWNED").exists()


def test_a_module_inside_a_run_dir_is_not_yours(in_folder):
    run = in_folder / "runs" / "train" / "x"
    (run / ".hydra").mkdir(parents=True)
    (run / "summary.json").write_text("{}")
    write_mynets(run, "evil", "open('PWNED', 'w').close()\ndef build(**kw): pass\n")
    (run.parent / "__init__.py").write_text("")
    for target in ("runs.train.x.evil.build", "evil.build"):
        with pytest.raises(KoptError, match="allowed: a function or class of your own module"):
            build_model(custom(target), NO_REG, (6,), 3)
    assert not (in_folder / "PWNED").exists()


# -- kopt as a user runs it -----------------------------------------------------------------------


# TF_CPP_MIN_LOG_LEVEL unset, as in a user's shell: a fresh process, not a fork
USER_SHELL = {"TF_CPP_MIN_LOG_LEVEL": None}


@pytest.fixture(scope="module")
def custom_train(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """(cwd, process) of `kopt train model=custom model._target_=mynets.build model.width=6`, run
    once for the tests that read it, in a fresh process as a user's shell starts it (USER_SHELL)."""
    cwd = tmp_path_factory.mktemp("custom_run")
    write_mynets(cwd)
    return cwd, run_kopt("train", *TINY_DATA, *CUSTOM, "model.width=6", cwd=cwd, env=USER_SHELL)


@pytest.fixture(scope="module")
def custom_run(custom_train) -> Path:
    """The run dir of custom_train's finished run."""
    cwd, proc = custom_train
    assert proc.returncode == 0, proc.stderr[-3000:]
    return only_run_dir(cwd)


def test_a_custom_model_trains_with_its_own_key_set_without_plus(custom_run):
    run = custom_run
    summary = read_summary(run)
    assert summary["status"] == "completed"
    features, classes = int(np.prod(summary["data"]["input_shape"])), summary["data"]["classes"]
    assert summary["params"] == (features * 6 + 6) + (6 * classes + classes)
    saved = OmegaConf.load(run / ".hydra" / "config.yaml").model
    assert OmegaConf.to_container(saved) == {"name": "custom", "_target_": "mynets.build", "init": None, "width": 6}


FREEZING = """
import keras


def build(input_shape, num_outputs, trainable=True):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(8, activation="relu", name="hidden", trainable=trainable)(x)
    return keras.Model(inputs, keras.layers.Dense(num_outputs, name="logits")(x), name="mynet")
"""


def test_a_custom_model_starts_from_a_previous_runs_weights_with_model_init(tmp_path):
    """Stage 1 trains everything; stage 2 (model.init=<stage 1>, the user's own trainable=false
    freezing the hidden layer) ends with stage 1's hidden kernel (loaded, not trained; a fresh
    start would differ) and a logits layer that moved on; its passes to the builder leave init out."""
    write_mynets(tmp_path, text=FREEZING)
    args = [*TINY_DATA, "trainer.epochs=1", "model=custom", "model._target_=mynets.build"]
    first = run_kopt("train", *args, "hydra.run.dir=runs/a", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_kopt(
        "train", *args, "model.trainable=false", "model.init=runs/a", "hydra.run.dir=runs/b", cwd=tmp_path
    )
    assert second.returncode == 0, second.stderr[-3000:]
    a, b = (keras.saving.load_model(tmp_path / f"runs/{r}/model.keras").layers[-1].get_layer("mynet") for r in "ab")
    np.testing.assert_array_equal(b.get_layer("hidden").get_weights()[0], a.get_layer("hidden").get_weights()[0])
    assert not np.allclose(b.get_layer("logits").get_weights()[0], a.get_layer("logits").get_weights()[0])
    assert read_summary(tmp_path / "runs/b")["init"]["files"] == {"0": "model.keras"}


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["model=custom"], "model._target_: missing; model=custom needs the function that builds your model"),
        (["model=custom", "model._target_=nosuch.build"], "model._target_=nosuch.build: no module 'nosuch' of yours"),
        ([*CUSTOM[:1], "model._target_=mynets.nosuch"], "model._target_=mynets.nosuch: cannot import it"),
        ([*CUSTOM[:1], "model._target_=mynets.NOT_CALLABLE"], "is a int, not a function or class"),
        ([*CUSTOM, "model.depth=3"], "got an unexpected keyword argument 'depth'; it takes: input_shape"),
        ([*CUSTOM, "model.num_outputs=3"], "model.num_outputs: is set by kopt"),
        ([*CUSTOM, "regularizer.dropout=0.5"], "regularizer.dropout=0.5: not applied to model=custom"),
        (["model=custom", "model._target_=os.system"], "model._target_=os.system: not allowed"),
    ],
)
def test_a_bad_target_is_one_line_before_any_run_dir(tmp_path, overrides, needle):
    write_mynets(tmp_path)
    proc = run_kopt("train", *TINY_DATA, *overrides, cwd=tmp_path)
    assert_clean_error(proc, needle)
    assert proc.returncode == 2
    assert not (tmp_path / "runs").exists()


def test_a_wrong_return_is_one_line_and_a_failed_run_dir_that_says_why(tmp_path):
    write_mynets(tmp_path)
    proc = run_kopt("train", *TINY_DATA, "model=custom", "model._target_=mynets.two_outputs", cwd=tmp_path)
    assert_clean_error(proc, "returned a model with 2 outputs")
    summary = read_summary(only_run_dir(tmp_path))
    assert summary["status"] == "failed" and "returned a model with 2 outputs" in summary["error"]


def test_a_module_beside_the_config_dir_yamls_is_importable(tmp_path):
    confs = tmp_path / "confs"
    (confs / "model").mkdir(parents=True)
    write_mynets(confs, "confnets")
    (confs / "model" / "mine.yaml").write_text("defaults: [custom, _self_]\n_target_: confnets.build\nwidth: 3\n")
    work = tmp_path / "work"
    work.mkdir()
    # the module is found and imported: its signature is what refuses the key it does not take
    proc = run_kopt("train", "--config-dir", str(confs), *TINY_DATA, "model=mine", "model.depth=2", cwd=work)
    assert_clean_error(proc, "model._target_=confnets.build: got an unexpected keyword argument 'depth'")
    assert not (work / "runs").exists()


_JOB_CONFIG: list[str] = []


def _job_config(tmp_path: Path) -> str:
    """`kopt train ... model=mlp --cfg job`'s output, asked once per test process (it names no folder)."""
    if not _JOB_CONFIG:
        proc = run_kopt("train", *TINY_DATA, "model=mlp", "--cfg", "job", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        _JOB_CONFIG.append(proc.stdout)
    return _JOB_CONFIG[0]


def _plant_run(tmp_path: Path, model: dict) -> Path:
    """A kopt train run dir whose saved config names ``model`` (as an attacker would write it; a
    ``callbacks`` key goes to trainer.callbacks instead)."""
    cfg = OmegaConf.create(_job_config(tmp_path))
    if "callbacks" in model:
        cfg.trainer.callbacks = model["callbacks"]
    else:
        cfg.model = model
    run = tmp_path / "runs" / "train" / "planted"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    return run


@pytest.mark.parametrize(
    "model, needle",
    [
        (
            {"name": "custom", "_target_": "os.system", "command": "touch PWNED"},
            "model._target_=os.system: not allowed",
        ),
        ({"name": "custom", "_target_": "subprocess.call", "args": "touch PWNED"}, "subprocess.call: not allowed"),
        ({"name": "custom", "_target_": "runs.train.planted.evil.build"}, "no module 'runs' of yours"),
        (
            {"callbacks": [{"_target_": "os.system", "command": "touch PWNED"}]},
            "trainer.callbacks[0]._target_=os.system: not allowed",
        ),
    ],
)
def test_a_target_planted_in_a_run_dir_is_refused_on_resume_and_nothing_runs(tmp_path, model, needle):
    run = _plant_run(tmp_path, model)
    (run / "evil.py").write_text("open('PWNED', 'w').close()\ndef build(**kw): pass\n")
    proc = run_kopt("train", f"resume={run.relative_to(tmp_path)}", cwd=tmp_path)
    assert_clean_error(proc, needle)
    assert not list(tmp_path.rglob("PWNED"))
    assert not (run / "summary.json").exists()  # not even claimed


def test_a_target_planted_in_a_best_yaml_is_refused_and_nothing_runs(tmp_path):
    study = tmp_path / "runs" / "tune" / "planted"
    study.mkdir(parents=True)
    (study / "best.yaml").write_text(
        "# kopt tune: the best trial (planted)\n"
        "defaults:\n  - override model: custom\n  - _self_\n"
        "model:\n  _target_: os.system\n  command: touch PWNED\n"
    )
    write_mynets(study, "os_helpers", "open('PWNED', 'w').close()\ndef build(**kw): pass\n")
    proc = run_kopt("train", "--config-dir", str(study), "--config-name", "best", *TINY_DATA, cwd=tmp_path)
    assert_clean_error(proc, "model._target_=os.system: not allowed")
    assert not list(tmp_path.rglob("PWNED"))
    # a module beside a best.yaml (a study dir: kopt's output) is not a module of yours either
    text = (study / "best.yaml").read_text().replace("os.system", "os_helpers.build")
    (study / "best.yaml").write_text(text)
    proc = run_kopt("train", "--config-dir", str(study), "--config-name", "best", *TINY_DATA, cwd=tmp_path)
    assert_clean_error(proc, "no module 'os_helpers' of yours")
    assert not list(tmp_path.rglob("PWNED"))


def test_kopt_tune_searches_a_key_of_your_own(tmp_path):
    write_mynets(tmp_path)
    proc = run_kopt(
        "tune",
        *TINY_DATA,
        *CUSTOM,
        "search.model.width=choice(3,5)",
        "tuner=grid",
        "tuner.plots=false",
        "tuner.retrain_best=false",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = sorted((only_run_dir(tmp_path, "tune") / "trials").iterdir())
    widths = []
    for trial in trials:
        summary = read_summary(trial)
        width = OmegaConf.load(trial / ".hydra" / "overrides.yaml")
        width = int(next(o for o in width if o.startswith("model.width=")).split("=")[1])
        widths.append(width)
        features, classes = int(np.prod(summary["data"]["input_shape"])), summary["data"]["classes"]
        assert summary["params"] == (features * width + width) + (width * classes + classes)
    assert sorted(widths) == [3, 5]


PLAIN_KERAS = """
import json, sys
sys.modules["kopt"] = None  # kopt cannot be imported here
sys.modules["mynets"] = None  # nor your module: a functional model saved by Keras needs neither
import keras, numpy as np
model = keras.saving.load_model(sys.argv[1])  # safe_mode
print(json.dumps(model.predict(np.load(sys.argv[2]), verbose=0).tolist()))
"""


def test_kopt_predict_and_plain_keras_predict_a_custom_models_raw_inputs_alike(custom_run, tmp_path):
    write_mynets(tmp_path)
    run = custom_run
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(5, *read_summary(run)["data"]["input_shape"]))
    np.save(tmp_path / "x.npy", x.astype("float32"))
    proc = run_kopt("predict", str(run), "x.npy", "--out", "out.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = (tmp_path / "out.csv").read_text().splitlines()
    by_kopt = np.array([[float(v) for v in line.split(",")[2:]] for line in lines[1:]])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # forked before any kopt import, as a fresh interpreter; PLAIN_KERAS blocks kopt and mynets itself
    plain = run_python("-c", PLAIN_KERAS, str(run / "model.keras"), str(tmp_path / "x.npy"), cwd=elsewhere)
    assert plain.returncode == 0, plain.stderr[-3000:]
    by_keras = np.array(json.loads(plain.stdout.splitlines()[-1]))
    assert by_kopt.shape == by_keras.shape == (5, read_summary(run)["data"]["classes"])
    np.testing.assert_allclose(by_kopt, by_keras, atol=1e-5)
    np.testing.assert_allclose(by_keras.sum(axis=1), 1.0, rtol=1e-5)


MYSTOP = """
import keras


class MyStop(keras.callbacks.EarlyStopping):
    pass
"""


def test_a_keras_callback_of_yours_is_added_to_the_fit(tmp_path):
    callback = (
        "trainer.callbacks=[{_target_: keras.callbacks.ReduceLROnPlateau, monitor: loss, min_delta: 100, "
        "patience: 1, factor: 0.5, verbose: 1}]"
    )
    proc = run_kopt("train", *TINY, "trainer.epochs=3", callback, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("ReduceLROnPlateau reducing learning rate to 0.0005") == 1
    assert proc.stdout.count("ReduceLROnPlateau reducing learning rate to 0.00025") == 1


@pytest.mark.parametrize(
    "callback, needle",
    [
        ("{_target_: keras.callbacks.ModelCheckpoint, filepath: m.keras}", "use trainer.checkpoint"),
        ("{_target_: keras.callbacks.BackupAndRestore, backup_dir: b}", "use trainer.resumable=true"),
        ("{_target_: keras.callbacks.EarlyStopping}", "use trainer.early_stopping.enabled=true"),
        ("{_target_: mystop.MyStop}", "EarlyStopping: kopt does this itself; use trainer.early_stopping.enabled"),
        ("{_target_: keras.callbacks.CSVLogger, filenam: x.csv}", "missing a required argument: 'filename'; it takes"),
        ("{_target_: os.system, command: touch PWNED}", "trainer.callbacks[0]._target_=os.system: not allowed"),
        ("{patience: 2}", "trainer.callbacks[0]={'patience': 2}: not a callback"),
    ],
)
def test_a_callback_that_fights_kopts_own_or_is_not_allowed_is_one_line(tmp_path, callback, needle):
    write_mynets(tmp_path, "mystop", MYSTOP)
    proc = run_kopt("train", *TINY, f"trainer.callbacks=[{callback}]", cwd=tmp_path)
    assert_clean_error(proc, needle)
    assert not (tmp_path / "runs").exists() and not list(tmp_path.rglob("PWNED"))


def test_the_example_folder_trains_as_documented(tmp_path):
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "custom_model", tmp_path / "example")
    cwd = tmp_path / "example"
    proc = run_kopt("train", *TINY_DATA, *CUSTOM, "model.width=4", cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = read_summary(only_run_dir(cwd))
    assert summary["status"] == "completed" and summary["data"]["input_shape"] == [8, 8, 1]
    # conv 3x3x1x4 + 4, conv 3x3x4x8 + 8, dense 8x10 + 10: the CNN branch for images
    assert summary["params"] == (9 * 4 + 4) + (9 * 4 * 8 + 8) + (8 * 10 + 10)


def test_kopt_models_lists_a_custom_model_with_its_params_and_flops(tmp_path):
    write_mynets(tmp_path)
    proc = run_kopt("models", *CUSTOM, "model.width=5", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = json.loads(proc.stdout)
    features = 32 * 32 * 3  # kopt models' default input: CIFAR-sized, 10 classes
    assert (row["family"], row["model"]) == ("custom", "custom_mynet")
    assert row["params"] == (features * 5 + 5) + (5 * 10 + 10)
    assert row["flops"] == 2 * (features * 5 + 5 * 10)
    assert row["depth"] == 2


def test_a_target_planted_in_a_studys_stored_plan_is_refused_by_kopt_worker(tmp_path):
    import optuna

    from kopt.tune.planning.record import SYSTEM_ATTR, stored_plan
    from kopt.tune.store import optuna_api
    from kopt.tune.store.storage import open_storage

    proc = run_kopt(
        "tune",
        *TINY,
        "search.optimizer.lr=choice(0.01)",
        "tuner.n_trials=1",
        "tuner.study_name=s",
        "tuner.retrain_best=false",  # the study's stored plan is what this test reads, not a retrained model
        "tuner.plots=false",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    journal = tmp_path / "runs" / "tune" / "s" / "journal.log"
    study = optuna.load_study(study_name="s", storage=open_storage(str(journal)))
    plan = stored_plan(study)
    for base in plan["bases"].values():  # as an attacker with write access to the storage would
        base["model"] = {"name": "custom", "_target_": "os.system", "command": "touch PWNED"}
    plan["n_trials"] = 3
    optuna_api.set_study_system_attr(study, SYSTEM_ATTR, plan)
    work = tmp_path / "worker"
    work.mkdir()
    proc = run_kopt("worker", f"tuner.storage={journal}", "tuner.study_name=s", cwd=work)
    assert_clean_error(proc, "model._target_=os.system: not allowed")
    assert not list(tmp_path.rglob("PWNED")) and not (work / "runs").exists()


def test_a_users_module_that_imports_keras_adds_no_start_up_lines_and_a_bad_target_is_one_line(custom_train, tmp_path):
    """mynets.py imports Keras at its top, so TensorFlow loads while kopt imports the target, before
    kopt's own quiet import. Its C++ start-up lines (oneDNN, CUDA drivers) stay out of the output as
    they do for the zoo, and a target missing from the module is one stderr line (Hydra's get_object
    also logged three lines of its own before kopt's). The run trained is custom_train's."""
    write_mynets(tmp_path)
    noise = re.compile(r"oneDNN|cudart|cuda drivers|absl::|^[IWE]\d{4} ", re.M)
    _, ran = custom_train
    assert ran.returncode == 0, ran.stderr
    assert not noise.search(ran.stdout + ran.stderr), ran.stderr[:2000]
    bad = run_kopt("train", *TINY_DATA, "model=custom", "model._target_=mynets.nope", cwd=tmp_path, env=USER_SHELL)
    assert_clean_error(bad, "model._target_=mynets.nope: cannot import it")
    assert [line for line in bad.stderr.splitlines() if line.strip()] == [bad.stderr.strip()], bad.stderr
