"""dataset.task (binary, multilabel, regression), trainer.metrics and metrics named anywhere a
validation metric is chosen (trainer.monitor, tuner.metric); trainer.loss of your own. Each task
runs on an MLP and on a CNN (batch norm) over tiny data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import assert_clean_error, only_run_dir, read_summary, run_kopt, run_python

SMALL = ["trainer.epochs=2", "trainer.batch_size=16", "split=holdout"]
MODELS = {
    "mlp": ["model=mlp", "model.width=8", "model.depth=1"],
    "cnn": ["model=cnn", "model.width=4", "model.depth=1"],
}
SHAPE = {"mlp": (6,), "cnn": (8, 8, 1)}


def rows(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def write_npz(path, family: str, y, n: int = 96):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, *SHAPE[family])).astype("float32")
    np.savez(path, x_train=x, y_train=y)
    return x


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_a_binary_task_monitors_val_auc(tmp_path, family):
    shape = "[6]" if family == "mlp" else "[8,8,1]"
    proc = run_kopt(
        "train",
        "dataset=synthetic",
        "dataset.classes=2",
        "dataset.size=120",
        f"dataset.shape={shape}",
        "dataset.task=binary",
        "trainer.monitor=val_auc",
        *MODELS[family],
        *SMALL,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    run = only_run_dir(tmp_path)
    metrics = read_summary(run)["metrics"]
    for key in ("val_auc", "test_auc", "val_accuracy", "test_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, (key, metrics)
    epochs = rows(run)
    assert all(0.0 <= r["auc"] <= 1.0 and 0.0 <= r["val_auc"] <= 1.0 for r in epochs), epochs
    best = max(epochs, key=lambda r: r["val_auc"])  # the best epoch is chosen on val_auc, upwards
    assert metrics["val_auc"] == pytest.approx(best["val_auc"])
    # test_auc is Keras' AUC of the saved predictions' class-1 probability
    with np.load(run / "predictions.npz") as z:
        probs, y = z["probs"], z["y_true"]
    from sklearn.metrics import roc_auc_score

    assert metrics["test_auc"] == pytest.approx(roc_auc_score(y, probs[:, 1]), abs=0.02)


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_a_regression_task_reports_mae_and_rmse_and_predicts_values(tmp_path, family):
    rng = np.random.default_rng(1)
    y = rng.normal(3.0, 2.0, 96).astype("float32")  # float labels: auto reads a regression
    x = write_npz(tmp_path / "values.npz", family, y)
    np.savez(tmp_path / "new.npz", x=x)
    proc = run_kopt(
        "train",
        "dataset=npz",
        "dataset.path=values.npz",
        "trainer.monitor=val_mae",
        *MODELS[family],
        *SMALL,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    run = only_run_dir(tmp_path)
    summary = read_summary(run)
    metrics = summary["metrics"]
    assert summary["data"]["task"] == "regression"
    assert not [k for k in metrics if "accuracy" in k], metrics
    header = next(line for line in proc.stdout.splitlines() if "best epoch" in line)  # the run's table
    assert "val_mae" in header and "test_rmse" in header and "acc" not in header, header
    with np.load(run / "predictions.npz") as z:
        values, truth = z["probs"], z["y_true"]
    assert values.shape == (len(truth), 1)
    err = values[:, 0] - truth
    assert metrics["test_mae"] == pytest.approx(float(np.abs(err).mean()), rel=1e-4)
    assert metrics["test_rmse"] == pytest.approx(float(np.sqrt(np.square(err).mean())), rel=1e-4)
    assert metrics["test_loss"] == pytest.approx(float(np.square(err).mean()), rel=1e-3)
    assert metrics["val_mae"] == pytest.approx(min(r["val_mae"] for r in rows(run)))  # the lowest is best
    assert all(r["rmse"] >= 0 and "accuracy" not in r for r in rows(run))

    out = tmp_path / "pred.csv"
    proc = run_kopt("predict", str(run), "new.npz", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text().splitlines()
    assert "predicted" in text[0].split(","), text[0]
    column = text[0].split(",").index("predicted")
    predicted = np.array([float(line.split(",")[column]) for line in text[1:]])
    assert len(predicted) == 96 and np.isfinite(predicted).all() and len(np.unique(predicted)) > 1


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_a_multilabel_task_trains_one_probability_per_label(tmp_path, family):
    rng = np.random.default_rng(2)
    y = (rng.random((96, 3)) < 0.4).astype("int64")
    x = write_npz(tmp_path / "tags.npz", family, y)
    proc = run_kopt("train", "dataset=npz", "dataset.path=tags.npz", *MODELS[family], *SMALL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = only_run_dir(tmp_path)
    summary = read_summary(run)
    assert summary["data"]["task"] == "multilabel"
    with np.load(run / "predictions.npz") as z:
        probs, truth = z["probs"], z["y_true"]
    assert probs.shape == truth.shape == (len(truth), 3)
    assert (probs >= 0).all() and (probs <= 1).all() and not np.allclose(probs.sum(axis=1), 1.0)
    # accuracy of a label set: the share of labels right at 0.5
    assert summary["metrics"]["test_accuracy"] == pytest.approx(float(((probs > 0.5) == truth).mean()), abs=1e-5)
    # kopt predict: the labels above 0.5, and one probability per label, as predictions.npz holds them
    with np.load(run / "predictions.npz") as z:
        test_idx = z["test_idx"]
    np.savez(tmp_path / "new.npz", x=x[test_idx], y=y[test_idx])
    out = tmp_path / "pred.csv"
    proc = run_kopt("predict", str(run), "new.npz", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    header, *lines = [line.split(",") for line in out.read_text().splitlines()]
    assert header == ["id", "predicted", "label", "prob_0", "prob_1", "prob_2"]
    written = np.array([[float(v) for v in line[3:]] for line in lines])
    assert written == pytest.approx(probs, abs=1e-5)
    expected = [";".join(str(j) for j in range(3) if p[j] > 0.5) for p in probs]
    assert [line[1] for line in lines] == expected
    assert [line[2] for line in lines] == [";".join(str(j) for j in range(3) if t[j]) for t in truth]


def test_a_metric_that_is_not_the_tasks_is_one_line(tmp_path):
    proc = run_kopt(
        "train", "dataset=iris", "model=mlp", "dataset.task=regression", "trainer.metrics=[auc]", cwd=tmp_path
    )
    assert_clean_error(proc, "trainer.metrics", "auc", "dataset.task=regression", "mae")
    assert not (tmp_path / "runs").exists()
    proc = run_kopt("train", "dataset=iris", "model=mlp", "trainer.metrics=[kappa]", cwd=tmp_path)
    assert_clean_error(proc, "trainer.metrics", "kappa", "allowed", "auc")
    proc = run_kopt("train", "dataset=iris", "model=mlp", "trainer.monitor=val_f1", cwd=tmp_path)
    assert_clean_error(proc, "trainer.monitor=val_f1", "allowed", "val_accuracy")
    assert not (tmp_path / "runs").exists()
    # float labels in your file: a regression, whose runs log no accuracy (auto, the default, picks val_loss)
    write_npz(tmp_path / "values.npz", "mlp", np.linspace(0, 1, 96).astype("float32") ** 2 + 0.01)
    values = ["dataset=npz", "dataset.path=values.npz", *MODELS["mlp"]]
    proc = run_kopt("train", *values, "trainer.monitor=val_accuracy", cwd=tmp_path)
    assert_clean_error(proc, "trainer.monitor=val_accuracy", "dataset.task=regression", "val_mae, val_rmse")
    assert not (tmp_path / "runs").exists()


def test_integer_values_train_as_a_regression_when_asked(tmp_path):
    ages = np.random.default_rng(0).integers(20, 70, 96)  # refused under task=auto (test_regression_labels)
    write_npz(tmp_path / "ages.npz", "mlp", ages)
    proc = run_kopt(
        "train",
        "dataset=npz",
        "dataset.path=ages.npz",
        "dataset.task=regression",
        "trainer.monitor=val_loss",
        "trainer.metrics=[mae,r2]",
        *MODELS["mlp"],
        *SMALL,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    metrics = read_summary(only_run_dir(tmp_path))["metrics"]
    assert metrics["test_mae"] > 0 and metrics["test_r2"] <= 1.0 and "test_rmse" not in metrics


def test_a_tiny_study_maximises_val_auc(tmp_path):
    proc = run_kopt(
        "tune",
        "dataset=synthetic",
        "dataset.size=120",
        "dataset.classes=2",
        "dataset.task=binary",
        "tuner.metric=val_auc",
        "tuner=random",
        "tuner.n_trials=2",
        "tuner.study_name=s",
        "tuner.retrain_best=false",
        "tuner.plots=false",
        "search.model.width=choice(4, 8)",
        *MODELS["mlp"],
        *SMALL,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    study = tmp_path / "runs" / "tune" / "s"
    import optuna

    loaded = optuna.load_study(
        study_name="s",
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(study / "journal.log"))),
    )
    assert loaded.direction == optuna.study.StudyDirection.MAXIMIZE
    done = [t for t in loaded.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 2
    for trial in done:  # each trial's value is its run's val_auc
        runs = [
            p
            for p in study.rglob("summary.json")
            if json.loads(p.read_text()).get("metrics", {}).get("val_auc") == trial.value
        ]
        assert 0.0 <= trial.value <= 1.0 and runs, trial.value


def test_a_regression_needs_no_monitor_or_metric_set_to_train_and_tune(tmp_path):
    """trainer.monitor and tuner.metric default to auto: val_loss for a regression, read from its labels
    (val_accuracy, the classes' own, is tested with every default classification run)."""
    y = np.random.default_rng(4).normal(3.0, 2.0, 96).astype("float32")  # float labels: auto reads a regression
    write_npz(tmp_path / "values.npz", "mlp", y)
    data = ["dataset=npz", "dataset.path=values.npz", *MODELS["mlp"], "trainer.batch_size=16", "split=holdout"]
    # early stopping on auto too: no epoch improves by 1000, so it stops after the second of three
    stop = ["trainer.early_stopping.enabled=true", "trainer.early_stopping.monitor=auto"]
    stop += ["trainer.early_stopping.patience=1", "trainer.early_stopping.min_delta=1000"]
    proc = run_kopt("train", *data, "trainer.epochs=3", *stop, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = only_run_dir(tmp_path)
    summary = read_summary(run)
    assert summary["monitor"] == "val_loss" and summary["folds"][0]["epochs_run"] == 2
    best = min(rows(run), key=lambda r: r["val_loss"])
    assert summary["folds"][0]["best_epoch"] == best["epoch"]
    assert summary["metrics"]["val_mae"] == pytest.approx(best["val_mae"])  # the kept epoch's, whatever its mae

    search = ["tuner=random", "tuner.n_trials=2", "search.optimizer.lr=choice(0.001, 0.01)", "trainer.epochs=2"]
    proc = run_kopt("tune", *data, *search, "tuner.study_name=reg", "tuner.plots=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    study = read_summary(tmp_path / "runs" / "tune" / "reg")
    assert (study["metric"], study["direction"]) == ("val_loss", "minimize")
    trials = [read_summary(p.parent) for p in (tmp_path / "runs" / "tune" / "reg" / "trials").glob("*/summary.json")]
    assert len(trials) == 2 and study["best_value"] == pytest.approx(min(t["metrics"]["val_loss"] for t in trials))
    tested = study["retrain"]["test"]
    assert {"test_loss", "test_mae", "test_rmse"} <= set(tested) and "test_accuracy" not in tested
    retrained = next(line for line in proc.stdout.splitlines() if "retrained" in line)
    assert f"test_loss={tested['test_loss']:.4f}" in retrained, retrained
    # a direction against the metric auto chose: one line, before any study dir
    proc = run_kopt("tune", *data, *search, "tuner.study_name=up", "tuner.direction=maximize", cwd=tmp_path)
    assert_clean_error(
        proc, "tuner.direction=maximize with tuner.metric=auto (here val_loss): allowed: auto or minimize"
    )
    assert not (tmp_path / "runs" / "tune" / "up").exists()


def test_a_study_on_a_metric_its_runs_do_not_log_is_one_line(tmp_path):
    proc = run_kopt(
        "tune",
        "dataset=iris",
        "tuner.metric=val_rmse",
        "search.model.width=choice(4, 8)",
        *MODELS["mlp"],
        *SMALL,
        cwd=tmp_path,
    )
    assert_clean_error(proc, "tuner.metric=val_rmse", "allowed", "val_accuracy")
    assert not (tmp_path / "runs").exists()


FOCAL = '''
import keras


def focal(y_true, y_pred, gamma=2.0):
    """Focal loss of integer labels against softmax probabilities."""
    labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
    p = keras.ops.sum(keras.ops.one_hot(labels, y_pred.shape[-1]) * y_pred, axis=-1)
    p = keras.ops.clip(p, 1e-7, 1.0)
    return -((1.0 - p) ** gamma) * keras.ops.log(p)
'''


PLAIN_KERAS = "import keras, sys; print([keras.saving.load_model(p).output_shape for p in sys.argv[1:]])"


@pytest.fixture(scope="module")
def focal_runs(tmp_path_factory):
    """{family: (its run dir, its kopt process)}: a run of each family trained with your own loss
    (trainer.loss of mylosses.focal, gamma=3), and what plain Keras printed loading both models, in
    one interpreter (forked before any kopt import, as a fresh one), from /, without your module:
    [output shape of mlp's, of cnn's]."""
    from pathlib import Path

    runs = {}
    for family in ("mlp", "cnn"):
        cwd = tmp_path_factory.mktemp(f"focal_{family}")
        (cwd / "mylosses.py").write_text(FOCAL)
        shape = "[6]" if family == "mlp" else "[8,8,1]"
        proc = run_kopt(
            "train",
            "dataset=synthetic",
            "dataset.size=120",
            f"dataset.shape={shape}",
            "dataset.classes=3",
            "trainer.loss={_target_:mylosses.focal,gamma:3.0}",
            *MODELS[family],
            *SMALL,
            cwd=cwd,
        )
        assert proc.returncode == 0, proc.stderr
        runs[family] = only_run_dir(cwd)
    paths = [str(runs[family] / "model.keras") for family in ("mlp", "cnn")]
    plain = run_python("-c", PLAIN_KERAS, *paths, cwd=Path("/"))
    return runs, plain


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_your_own_loss_with_its_keys(focal_runs, family):
    runs, plain = focal_runs
    run = runs[family]
    metrics = read_summary(run)["metrics"]
    with np.load(run / "predictions.npz") as z:
        probs, y = z["probs"], z["y_true"]
    p = np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0)
    focal = float((-((1 - p) ** 3.0) * np.log(p)).mean())  # gamma=3 reached the function
    assert metrics["test_loss"] == pytest.approx(focal, rel=1e-3)
    plain_loss = float(-np.log(p).mean())
    assert abs(metrics["test_loss"] - plain_loss) > 1e-3
    # model.keras loads in plain Keras, without your module
    assert plain.returncode == 0, plain.stderr
    shapes = plain.stdout.strip().splitlines()[-1]
    assert shapes == "[(None, 3), (None, 3)]", shapes


def test_a_loss_target_outside_your_modules_is_one_line(tmp_path):
    proc = run_kopt(
        "train", "dataset=iris", "trainer.loss={_target_:os.system,command:ls}", *MODELS["mlp"], cwd=tmp_path
    )
    assert_clean_error(proc, "trainer.loss._target_")
    assert not (tmp_path / "runs").exists()
    (tmp_path / "mylosses.py").write_text(FOCAL)
    proc = run_kopt(
        "train", "dataset=iris", "trainer.loss={_target_:mylosses.focal,alpha:1}", *MODELS["mlp"], cwd=tmp_path
    )
    assert_clean_error(proc, "trainer.loss._target_", "alpha")
    assert not (tmp_path / "runs").exists()


def test_the_auto_rule():
    from kopt.data.base import Data, check_data
    from kopt.errors import KoptError

    x = np.zeros((6, 2), "float32")
    task = lambda y, t="auto": check_data(Data(x, np.asarray(y), "npz", "tabular"), "dataset=npz", t).task  # noqa: E731
    assert task([0, 1, 2, 0, 1, 2]) == "multiclass"
    assert task([0, 1, 0, 1, 0, 1]) == "multiclass"  # two classes too: binary is asked for
    assert task([0, 1, 0, 1, 0, 1], "binary") == "binary"
    assert task([0.5, 1.5, 2.0, 3.0, 4.0, 1.0]) == "regression"
    assert task([[1, 0], [1, 1], [0, 1], [0, 0], [1, 1], [0, 1]]) == "multilabel"
    with pytest.raises(KoptError, match="dataset.task=multilabel"):  # one-hot rows: classes, refused with the hint
        task(np.eye(3)[[0, 1, 2, 0, 1, 2]])
    with pytest.raises(KoptError, match="takes 2"):
        task([0, 1, 2, 0, 1, 2], "binary")
    with pytest.raises(KoptError, match="not an integer"):
        task([0.5, 1.5, 2.0, 3.0, 4.0, 1.0], "multiclass")
    values = check_data(Data(x, np.array([1, 2, 3, 4, 5, 6]), "npz", "tabular"), "dataset=npz", "regression")
    assert values.y.dtype == np.float32 and values.y.tolist() == [1, 2, 3, 4, 5, 6] and values.outputs == 1


def test_compare_and_report_take_a_logged_metric(tmp_path):
    common = ["dataset=synthetic", "dataset.size=120", "dataset.classes=2", "dataset.task=binary", "split=kfold"]
    common += ["split.k=2", "trainer.epochs=2", "trainer.batch_size=16", "model=mlp", "model.depth=1"]
    for width in (4, 8):
        proc = run_kopt("train", *common, f"model.width={width}", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    a, b = sorted((tmp_path / "runs" / "train").iterdir())
    out = tmp_path / "cmp"
    proc = run_kopt("compare", str(a), str(b), "--metric", "val_auc", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(next(out.rglob("comparison.json")).read_text())
    folds = [f["val_auc"] for f in read_summary(a)["folds"]]
    assert result["metric"] == "val_auc" and result["higher_is_better"] is True
    assert result["scores_a"] == pytest.approx(folds)
    csv = tmp_path / "report.csv"
    proc = run_kopt("report", "runs/train", "--csv", str(csv), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    header, *lines = csv.read_text().splitlines()
    column = header.split(",").index("test_auc")
    assert sorted(float(line.split(",")[column]) for line in lines) == pytest.approx(
        sorted(read_summary(r)["metrics"]["test_auc"] for r in (a, b)), rel=1e-5
    )


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_balanced_class_weights_weigh_the_rare_class(tmp_path, family):
    y = np.array([0] * 80 + [1] * 16)  # 5:1
    write_npz(tmp_path / "rare.npz", family, y)
    losses = {}
    for weight in ("null", "balanced"):
        proc = run_kopt(
            "train",
            "dataset=npz",
            "dataset.path=rare.npz",
            f"trainer.class_weight={weight}",
            *MODELS[family],
            *SMALL,
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr
        run = max((tmp_path / "runs" / "train").iterdir())
        losses[weight] = rows(run)[0]["loss"]
    summary = read_summary(run)
    with np.load(run / "splits.npz") as z:
        train = y[z["train_0"]]
    n0, n1 = (train == 0).sum(), (train == 1).sum()
    assert summary["class_weight"]["0"] == pytest.approx({"0": len(train) / (2 * n0), "1": len(train) / (2 * n1)})
    assert losses["balanced"] != pytest.approx(losses["null"], rel=1e-3)  # the weights reached fit


def test_class_weight_on_a_regression_is_one_line(tmp_path):
    write_npz(tmp_path / "values.npz", "mlp", np.linspace(0, 1, 96).astype("float32") ** 2 + 0.01)
    proc = run_kopt(
        "train",
        "dataset=npz",
        "dataset.path=values.npz",
        "dataset.task=regression",
        "trainer.monitor=val_loss",
        "trainer.class_weight=balanced",
        *MODELS["mlp"],
        cwd=tmp_path,
    )
    assert_clean_error(proc, "trainer.class_weight=balanced", "dataset.task=regression", "null")
    assert not (tmp_path / "runs").exists()


def test_a_regression_from_a_csv_column(tmp_path):
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=96), rng.normal(size=96)
    with open(tmp_path / "houses.csv", "w") as fh:
        fh.write("a,b,price\n")
        for u, v in zip(a, b):
            fh.write(f"{u:.3f},{v:.3f},{2 * u - v + 10:.2f}\n")
    proc = run_kopt(
        "train",
        "dataset=csv",
        "dataset.path=houses.csv",
        "dataset.label=price",
        "trainer.monitor=val_rmse",
        *MODELS["mlp"],
        *SMALL,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    run = only_run_dir(tmp_path)
    summary = read_summary(run)
    assert summary["data"]["task"] == "regression" and summary["data"]["class_names"] == []
    with np.load(run / "predictions.npz") as z:
        err = z["probs"][:, 0] - z["y_true"]
    assert summary["metrics"]["test_rmse"] == pytest.approx(float(np.sqrt(np.square(err).mean())), rel=1e-4)
    assert sorted(z for z in summary["metrics"] if z.startswith("test_")) == ["test_loss", "test_mae", "test_rmse"]


# kopt compare, kopt ab and kopt ensemble of regression and multi-label runs: tests/test_compare_tasks.py


def synthetic(family: str, classes: int) -> list[str]:
    shape = "[6]" if family == "mlp" else "[8,8,1]"
    return ["dataset=synthetic", "dataset.size=150", f"dataset.shape={shape}", f"dataset.classes={classes}"]


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_f1_precision_recall_and_top5_are_keras_own_on_the_test_set(tmp_path, family):
    from sklearn.metrics import f1_score, precision_score, recall_score

    (tmp_path / "b").mkdir()
    (tmp_path / "m").mkdir()

    binary = ["dataset.task=binary", "trainer.metrics=[accuracy,f1,precision,recall]", "trainer.monitor=val_f1"]
    proc = run_kopt("train", *synthetic(family, 2), *binary, *MODELS[family], *SMALL, cwd=tmp_path / "b")
    assert proc.returncode == 0, proc.stderr
    run = only_run_dir(tmp_path / "b")
    metrics = read_summary(run)["metrics"]
    with np.load(run / "predictions.npz") as z:
        pred, y = (z["probs"][:, 1] > 0.5).astype(int), z["y_true"]
    assert metrics["test_precision"] == pytest.approx(precision_score(y, pred, zero_division=0), abs=1e-4)
    assert metrics["test_recall"] == pytest.approx(recall_score(y, pred, zero_division=0), abs=1e-4)
    assert metrics["test_f1"] == pytest.approx(f1_score(y, pred, zero_division=0), abs=1e-4)
    assert "test_auc" not in metrics and all("val_f1" in r for r in rows(run))

    proc = run_kopt(
        "train",
        *synthetic(family, 8),
        "trainer.metrics=[top5]",
        "trainer.monitor=val_top5",
        *MODELS[family],
        *SMALL,
        cwd=tmp_path / "m",
    )
    assert proc.returncode == 0, proc.stderr
    run = only_run_dir(tmp_path / "m")
    metrics = read_summary(run)["metrics"]
    with np.load(run / "predictions.npz") as z:
        probs, y = z["probs"], z["y_true"]
    top5 = float(np.mean([label in np.argsort(-p)[:5] for p, label in zip(probs, y)]))
    assert metrics["test_top5"] == pytest.approx(top5, abs=1e-6) and "test_accuracy" in metrics
