"""kopt.training.checkpoint, value by value (`make mutants`): headers, names, shapes, the finished-fold record and
the early-stopping state without Keras; then, on a small Keras model built here (keras_in_process, no training),
epoch checkpoints saved, refused, resumed and the checkpointer callback. tests/test_resume_cli.py resumes real runs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from kopt.training import checkpoint as ck
from kopt.training.fold import FoldResult

RNG = {k: np.zeros(1) for k in ck.RNG_ARRAYS}
META = {"fold": 1, "epoch": 3, "fit_done": False}


def corrupt(message, fn, *args):
    with pytest.raises(ck.CorruptCheckpoint) as err:
        fn(*args)
    assert str(err.value) == message


def stored_only(path):
    import zipfile

    with zipfile.ZipFile(path) as z:
        return {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}


def test_numbered_sorts_by_number_not_text():
    arrays = {"model/10": 10, "model/2": 2, "model/0": 0, "optimizer/1": -1, "best/0": 5}
    assert ck._numbered(arrays, "model/") == [0, 2, 10]
    assert ck._numbered(arrays, "optimizer/") == [-1]
    assert ck._numbered(arrays, "rng/") == []


def test_read_npz_reads_every_array_and_names_what_is_wrong(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.arange(3), meta=np.asarray("{}"))
    got = ck.read_npz(tmp_path / "a.npz")
    assert sorted(got) == ["meta", "x"] and got["x"].tolist() == [0, 1, 2]
    (tmp_path / "b.npz").write_bytes(b"PK\x03\x04 torn")
    with pytest.raises(ck.CorruptCheckpoint) as err:
        ck.read_npz(tmp_path / "b.npz")
    assert str(err.value).startswith("BadZipFile: ")
    np.savez(tmp_path / "c.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ck.CorruptCheckpoint) as err:
        ck.read_npz(tmp_path / "c.npz")
    assert str(err.value).startswith("ValueError: ") and "pickle" in str(err.value)
    with pytest.raises(ck.CorruptCheckpoint) as err:
        ck.read_npz(tmp_path / "none.npz")
    assert str(err.value).startswith("FileNotFoundError: ")


def test_header():
    assert ck._header({"meta": np.asarray(json.dumps({"format": 1, "fold": 0}))}) == {"format": 1, "fold": 0}
    corrupt("no readable header ('meta')", ck._header, {})
    with pytest.raises(ck.CorruptCheckpoint) as err:
        ck._header({"meta": np.asarray("{not json")})
    assert str(err.value).startswith("no readable header (Expecting property name")
    corrupt("no readable header (not a JSON object)", ck._header, {"meta": np.asarray("[1]")})
    corrupt("checkpoint format None, expected 1", ck._header, {"meta": np.asarray("{}")})
    corrupt("checkpoint format 2, expected 1", ck._header, {"meta": np.asarray('{"format": 2}')})


P = Path("ck/fold1-epoch003.npz")


def test_check_header_accepts_a_whole_header():
    ck._check_header(P, META, RNG, 1, 3)
    ck._check_header(P, META, RNG, 1, None)
    early = {k: 0 for k in ck.EARLY_KEYS}
    ck._check_header(P, {**META, "best": {"value": 1, "logs": {}}, "early_stopping": early}, RNG, 1, 5)


@pytest.mark.parametrize(
    ("meta", "arrays", "epochs", "message"),
    [
        ({"fold": 1}, RNG, 3, "missing epoch, fit_done"),
        ({}, {}, 3, "missing fold, epoch, fit_done, " + ", ".join(ck.RNG_ARRAYS)),
        (META, {k: v for k, v in RNG.items() if k != "rng/numpy/pos"}, 3, "missing rng/numpy/pos"),
        ({**META, "epoch": 0}, RNG, 3, "epoch 0 out of range; allowed: 1 .. 3"),
        ({**META, "epoch": 4}, RNG, 3, "epoch 4 out of range; allowed: 1 .. 3"),
        ({**META, "epoch": True}, RNG, 3, "epoch True out of range; allowed: 1 .. 3"),
        ({**META, "epoch": "3"}, RNG, None, "epoch '3' out of range; allowed: 1 .. trainer.epochs"),
        ({**META, "fold": 2}, RNG, 3, "its header (fold 2, epoch 3) does not match its name"),
        ({**META, "epoch": 2}, RNG, 3, "its header (fold 1, epoch 2) does not match its name"),
        ({**META, "best": [1]}, RNG, 3, "best is not an object"),
        ({**META, "best": {"logs": [1]}}, RNG, 3, "best is not an object"),
        ({**META, "early_stopping": [1]}, RNG, 3, "early_stopping needs wait, stopped_epoch, best_epoch, best"),
        ({**META, "early_stopping": {"wait": 0}}, RNG, 3, "early_stopping needs wait, stopped_epoch, best_epoch, best"),
    ],
)
def test_check_header_names_the_problem(meta, arrays, epochs, message):
    corrupt(message, ck._check_header, P, meta, arrays, 1, epochs)


def test_check_header_needs_a_numbered_name():
    corrupt(
        "its header (fold 1, epoch 3) does not match its name",
        ck._check_header,
        Path("fold1-epochX.npz"),
        META,
        RNG,
        1,
        3,
    )


def test_check_shapes():
    var = SimpleNamespace(shape=(2, 3), path="dense/kernel")
    ck._check_shapes("model variable", [np.zeros((2, 3))], [var])
    corrupt("2 model variable arrays, the model has 1", ck._check_shapes, "model variable", [np.zeros(1)] * 2, [var])
    corrupt(
        "model variable dense/kernel: shape (3, 2), expected (2, 3)",
        ck._check_shapes,
        "model variable",
        [np.zeros((3, 2))],
        [var],
    )


def result(fold=1, probs=None):
    probs = np.full((2, 3), 1 / 3) if probs is None else probs
    return FoldResult(fold, 4, 6, {"val_accuracy": 0.5, "test_loss": 1.25}, probs, 7.5)


def test_a_finished_fold_round_trips_and_its_epoch_files_go(tmp_path):
    store = ck.CheckpointStore(tmp_path)
    assert store.dir == tmp_path / "checkpoints"
    assert store.result_file(2) == tmp_path / "checkpoints" / "fold2-result.npz"
    store.dir.mkdir()
    for name in ("fold1-epoch002.npz", "fold1-epoch010.npz", "fold2-epoch001.npz"):
        (store.dir / name).write_bytes(b"")
    assert [p.name for p in store.epoch_files(1)] == ["fold1-epoch010.npz", "fold1-epoch002.npz"]
    assert store.load_result(1) is None
    r = result()
    r.params = 1234
    store.save_result(r)
    assert [p.name for p in store.epoch_files(1)] == [] and [p.name for p in store.epoch_files(2)] == [
        "fold2-epoch001.npz"
    ]
    assert stored_only(store.result_file(1))
    meta = json.loads(str(np.load(store.result_file(1))["meta"]))
    assert meta == {
        "fold": 1,
        "best_epoch": 4,
        "epochs_run": 6,
        "val_accuracy": 0.5,
        "test_loss": 1.25,
        "duration_s": 7.5,
        "params": 1234,
    }
    back = store.load_result(1)
    assert (back.fold, back.best_epoch, back.epochs_run, back.metrics, back.duration_s) == (
        1,
        4,
        6,
        {"val_accuracy": 0.5, "test_loss": 1.25},
        7.5,
    )
    assert back.probs.tolist() == r.probs.tolist()
    store.clear()
    assert not store.dir.exists()
    store.clear()  # nothing to remove: no error


@pytest.mark.parametrize(
    ("saved", "why"),
    [
        (result(fold=0), "fold 0 with probabilities of shape (2, 3)"),
        (result(probs=np.zeros(3)), "fold 1 with probabilities of shape (3,)"),
    ],
)
def test_a_finished_fold_that_does_not_fit_is_set_aside(tmp_path, capsys, saved, why):
    store = ck.CheckpointStore(tmp_path)
    store.dir.mkdir()
    ck.atomic_savez(store.result_file(1), meta=np.asarray(json.dumps(saved.row())), probs=saved.probs)
    assert store.load_result(1) is None
    path = store.result_file(1)
    assert (
        capsys.readouterr().err == f"kopt: warning: checkpoint {path} is unreadable ({why}; fold 1 is trained again)\n"
    )
    assert not path.exists() and path.with_name(path.name + ".corrupt").exists()


def test_a_finished_fold_missing_a_field_is_set_aside(tmp_path, capsys):
    store = ck.CheckpointStore(tmp_path)
    store.dir.mkdir()
    row = result().row()
    del row["epochs_run"]
    ck.atomic_savez(store.result_file(1), meta=np.asarray(json.dumps(row)), probs=np.zeros((2, 3)))
    assert store.load_result(1) is None
    assert capsys.readouterr().err.endswith("is unreadable ('epochs_run'; fold 1 is trained again)\n")


def test_early_state():
    assert ck.early_state(None) is None
    early = SimpleNamespace(wait=np.int64(2), stopped_epoch=5.0, best_epoch=3, best=np.float32(0.25))
    assert ck.early_state(early) == {"wait": 2, "stopped_epoch": 5, "best_epoch": 3, "best": 0.25}
    for best in (None, math.inf, -math.inf, math.nan):
        assert ck.early_state(SimpleNamespace(wait=0, stopped_epoch=0, best_epoch=0, best=best))["best"] is None


# -- with a small Keras model built here (keras_in_process: `make mutants` runs these too) -----------------------

in_keras = pytest.mark.keras_in_process


def small_model(width=3, compile=True):
    import keras

    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dropout(0.5, seed=1),  # a seed-state variable: in model.variables, not in model.weights
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    if compile:
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


def fill(model, start):
    """Distinct values in every model and optimizer variable (as after some training steps)."""
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    for i, var in enumerate([*model.variables, *model.optimizer.variables]):
        var.assign(np.full(var.shape, start + i).astype(var.dtype))


def values(variables):
    return [np.asarray(v.numpy()).tolist() for v in variables]


def best_of(model, value=0.75, epoch=2):
    return SimpleNamespace(
        best=value, best_epoch=epoch, best_logs={"val_accuracy": value}, best_weights=model.get_weights()
    )


EARLY = SimpleNamespace(wait=1, stopped_epoch=0, best_epoch=2, best=0.5)
ROWS = [
    {"fold": 0, "epoch": 1, "loss": 9.0},
    {"fold": 1, "epoch": 1, "loss": 1.0},
    {"fold": 1, "note": "no epoch"},
    {"fold": 1, "epoch": 3, "loss": 0.5},
    {"fold": 1, "epoch": 4, "loss": 0.25},
]


def store_with_rows(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return ck.CheckpointStore(tmp_path)


@in_keras
def test_save_epoch_writes_every_state(tmp_path):
    model = small_model()
    fill(model, 1)
    store = store_with_rows(tmp_path)
    best = best_of(model)
    path = store.save_epoch(1, 3, 1, model, best, EARLY)
    assert path == tmp_path / "checkpoints" / "fold1-epoch0003.npz"
    assert store.load_epoch(1, small_model(), 3).fit_done is True
    assert stored_only(path)  # not compressed: a checkpoint is written every epoch
    arrays = ck.read_npz(path)
    meta = json.loads(str(arrays["meta"]))
    assert meta == {
        "format": 1,
        "fold": 1,
        "epoch": 3,
        "fit_done": True,
        "best": {"value": 0.75, "epoch": 2, "logs": {"val_accuracy": 0.75}},
        "early_stopping": {"wait": 1, "stopped_epoch": 0, "best_epoch": 2, "best": 0.5},
        "model_paths": [v.path for v in model.variables],
        "rows": [ROWS[1], ROWS[2], ROWS[3]],  # fold 1 up to epoch 3 (a row without an epoch counts as before)
    }
    assert values(model.variables) == [a.tolist() for a in ck._numbered(arrays, "model/")]
    assert values(model.optimizer.variables) == [a.tolist() for a in ck._numbered(arrays, "optimizer/")]
    assert [w.tolist() for w in best.best_weights] == [a.tolist() for a in ck._numbered(arrays, "best/")]
    assert len(model.optimizer.variables) == 10 and len(best.best_weights) == 4
    assert set(ck.RNG_ARRAYS) <= {k for k in arrays if k.startswith("rng/")}
    assert sorted(k for k in arrays if not k.startswith("rng/")) == sorted(
        ["meta"]
        + [f"model/{i}" for i in range(5)]
        + [f"optimizer/{i}" for i in range(10)]
        + [f"best/{i}" for i in range(4)]
    )


@in_keras
def test_save_epoch_without_a_best_value_or_early_stopping(tmp_path):
    model = small_model()
    fill(model, 1)
    store = ck.CheckpointStore(tmp_path)
    no_best = SimpleNamespace(best=math.inf, best_epoch=0, best_weights=None)  # no best_logs attribute either
    path = store.save_epoch(0, 1, False, model, no_best, None)
    arrays = ck.read_npz(path)
    meta = json.loads(str(arrays["meta"]))
    assert (meta["fit_done"], meta["best"], meta["early_stopping"], meta["rows"]) == (
        False,
        {"value": None, "epoch": 0, "logs": {}},
        None,
        [],
    )
    assert ck._numbered(arrays, "best/") == []
    assert path.name == "fold0-epoch0001.npz"


@in_keras
def test_only_the_newest_two_epoch_checkpoints_of_the_fold_are_kept(tmp_path):
    model = small_model()
    fill(model, 1)
    store = ck.CheckpointStore(tmp_path)
    store.save_epoch(2, 1, False, model, best_of(model), None)  # another fold's: kept
    for epoch in (1, 2, 3):
        store.save_epoch(1, epoch, False, model, best_of(model), None)
    assert [p.name for p in store.epoch_files(1)] == ["fold1-epoch0003.npz", "fold1-epoch0002.npz"]
    assert [p.name for p in store.epoch_files(2)] == ["fold2-epoch0001.npz"]
    assert sorted(p.name for p in store.dir.iterdir()) == [
        "fold1-epoch0002.npz",
        "fold1-epoch0003.npz",
        "fold2-epoch0001.npz",
    ]


@in_keras
def test_a_resume_gets_back_the_saved_weights_optimizer_rng_and_callbacks(tmp_path):
    import random

    model = small_model()
    fill(model, 1)
    store = store_with_rows(tmp_path)
    best = best_of(model, value=0.625, epoch=3)
    random.seed(5)
    np.random.seed(7)
    path = store.save_epoch(1, 3, False, model, best, EARLY)
    after = (random.random(), np.random.rand(3).tolist())

    resumed = small_model(compile=True)  # its optimizer not built yet: load_epoch builds it
    assert not resumed.optimizer.built
    ckpt = store.load_epoch(1, resumed, 5)
    assert resumed.optimizer.built
    assert (ckpt.path, ckpt.fold, ckpt.epoch, ckpt.fit_done) == (path, 1, 3, False)
    assert ckpt.best == {"value": 0.625, "epoch": 3, "logs": {"val_accuracy": 0.625}}
    assert ckpt.early_stopping == {"wait": 1, "stopped_epoch": 0, "best_epoch": 2, "best": 0.5}
    assert ckpt.rows == [ROWS[1], ROWS[2], ROWS[3]]
    assert sorted(ckpt.rng) == sorted(k for k in ck.read_npz(path) if k.startswith("rng/"))
    assert [a.tolist() for a in ckpt.best_weights] == [w.tolist() for w in best.best_weights]
    assert values(resumed.variables) != values(model.variables)

    random.seed(0)
    np.random.seed(0)
    ck.apply_to_model(ckpt, resumed)
    assert values(resumed.variables) == values(model.variables)
    assert values(resumed.optimizer.variables) == values(model.optimizer.variables)
    assert (random.random(), np.random.rand(3).tolist()) == after

    new_best = SimpleNamespace(best=-math.inf, best_epoch=0, best_weights=None, best_logs={})
    early = SimpleNamespace(wait=0, stopped_epoch=0, best_epoch=0, best=math.inf)
    ck.apply_to_callbacks(ckpt, new_best, early)
    assert (new_best.best, new_best.best_epoch, new_best.best_logs) == (0.625, 3, {"val_accuracy": 0.625})
    assert [w.tolist() for w in new_best.best_weights] == [w.tolist() for w in best.best_weights]
    assert isinstance(new_best.best_weights, list)
    assert (early.wait, early.stopped_epoch, early.best_epoch, early.best) == (1, 0, 2, 0.5)


def checkpoint(best, early=None, best_weights=()):
    return ck.EpochCheckpoint(Path("x"), 0, 1, False, [], [], best, list(best_weights), early)


def test_apply_to_callbacks_leaves_what_the_checkpoint_does_not_hold():
    best = SimpleNamespace(best=-math.inf, best_epoch=0, best_weights="untouched", best_logs={"a": 1})
    ck.apply_to_callbacks(checkpoint({"value": None, "epoch": 0}), best, None)
    assert (best.best, best.best_epoch, best.best_weights, best.best_logs) == (-math.inf, 0, "untouched", {"a": 1})
    ck.apply_to_callbacks(checkpoint({}), best, None)
    assert best.best_weights == "untouched"
    # protocol=fixed without validation data: an epoch but no value
    ck.apply_to_callbacks(checkpoint({"value": None, "epoch": 2, "logs": None}), best, None)
    assert math.isnan(best.best) and (best.best_epoch, best.best_weights, best.best_logs) == (2, None, {})
    ck.apply_to_callbacks(checkpoint({"value": 1, "epoch": None}), best, None)
    assert (best.best, best.best_epoch) == (1.0, 0) and isinstance(best.best, float)
    early = SimpleNamespace(wait=0, stopped_epoch=0, best_epoch=0, best=7.0)
    ck.apply_to_callbacks(checkpoint({}, early=None), best, early)
    assert (early.wait, early.best) == (0, 7.0)
    state = {"wait": 2, "stopped_epoch": 4, "best_epoch": 3, "best": None}  # best None: the reset value stays
    ck.apply_to_callbacks(checkpoint({}, early=state), best, early)
    assert (early.wait, early.stopped_epoch, early.best_epoch, early.best) == (2, 4, 3, 7.0)
    ck.apply_to_callbacks(checkpoint({}, early={**state, "best": 0.0}), best, None)  # no early stopping now
    assert early.best == 7.0


def saved_epochs(tmp_path, epochs=(1, 2)):
    model = small_model()
    fill(model, 1)
    store = ck.CheckpointStore(tmp_path)
    paths = [store.save_epoch(1, e, False, model, best_of(model), None) for e in epochs]
    return store, paths


@in_keras
@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:100]), "BadZipFile: File is not a zip file"),
        (lambda p: p.write_bytes(b""), "EOFError: No data left in file"),
    ],
)
def test_a_damaged_newest_checkpoint_is_set_aside_in_one_line(tmp_path, capsys, damage, why):
    store, (older, newest) = saved_epochs(tmp_path)
    damage(newest)
    ckpt = store.load_epoch(1, small_model(), 5)
    assert ckpt.epoch == 1 and ckpt.path == older
    assert capsys.readouterr().err == (
        f"kopt: warning: checkpoint {newest} is unreadable ({why}; trying the previous checkpoint)\n"
    )
    assert not newest.exists() and newest.with_name(newest.name + ".corrupt").exists()


def rewrite(path, **changes):
    arrays = ck.read_npz(path)
    arrays.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del arrays[key]
    path.unlink()
    np.savez(path, **arrays)


@in_keras
def test_a_checkpoint_that_does_not_fit_the_model_is_refused_by_name(tmp_path, capsys):
    store, (path,) = saved_epochs(tmp_path, epochs=(2,))
    wider = small_model(width=5)
    assert store.load_epoch(1, wider, 5) is None
    kernel = wider.variables[0].path
    assert capsys.readouterr().err == (
        f"kopt: warning: checkpoint {path} is unreadable (model variable {kernel}: shape (4, 3), expected (4, 5);"
        " trying the previous checkpoint)\n"
    )
    assert list(store.dir.iterdir()) == [path.with_name(path.name + ".corrupt")]


@in_keras
@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"optimizer/9": None}, "9 optimizer variable arrays, the model has 10"),
        ({"best/3": None}, "3 best-epoch weight arrays, the model has 4"),
        ({"model/4": None}, "4 model variable arrays, the model has 5"),
        ({"model/x": np.zeros(1)}, "ValueError: invalid literal for int() with base 10: 'x'"),
        ({"meta": np.asarray("{}")}, "checkpoint format None, expected 1"),
        ({"rng/numpy/pos": None}, "missing rng/numpy/pos"),
    ],
)
def test_a_checkpoint_missing_a_part_is_refused_by_name(tmp_path, capsys, change, why):
    store, (path,) = saved_epochs(tmp_path, epochs=(2,))
    rewrite(path, **change)
    assert store.load_epoch(1, small_model(), 5) is None
    assert capsys.readouterr().err == (
        f"kopt: warning: checkpoint {path} is unreadable ({why}; trying the previous checkpoint)\n"
    )


@in_keras
def test_a_checkpoint_past_the_epochs_or_of_another_fold_is_refused(tmp_path, capsys):
    store, (path,) = saved_epochs(tmp_path, epochs=(3,))
    assert store.load_epoch(1, small_model(), 2) is None
    assert "(epoch 3 out of range; allowed: 1 .. 2; trying" in capsys.readouterr().err
    store, (path,) = saved_epochs(tmp_path / "b", epochs=(3,))
    assert store.load_epoch(1, small_model(), None).epoch == 3  # no limit given
    path.rename(path.with_name("fold2-epoch0003.npz"))
    assert store.load_epoch(2, small_model(), 3) is None
    assert "(its header (fold 1, epoch 3) does not match its name; trying" in capsys.readouterr().err
    assert store.load_epoch(1, small_model(), 3) is None  # nothing left: no file, no line
    assert capsys.readouterr().err == ""


@in_keras
def test_rows_that_are_not_objects_are_left_out(tmp_path):
    store, (path,) = saved_epochs(tmp_path, epochs=(1,))
    arrays = ck.read_npz(path)
    meta = json.loads(str(arrays["meta"]))
    rewrite(path, meta=np.asarray(json.dumps({**meta, "rows": [{"fold": 1, "epoch": 1}, [1], "x"], "best": None})))
    ckpt = store.load_epoch(1, small_model(), 5)
    assert ckpt.rows == [{"fold": 1, "epoch": 1}] and ckpt.best == {}
    rewrite(
        path,
        meta=np.asarray(json.dumps({**meta, "rows": None})),
        **{"best/0": None, "best/1": None, "best/2": None, "best/3": None},
    )
    ckpt = store.load_epoch(1, small_model(), 5)
    assert ckpt.rows == [] and ckpt.best_weights == []


@in_keras
def test_the_checkpointer_callback_saves_finished_epochs_and_restores_the_callbacks(tmp_path):
    import keras

    model = small_model()
    fill(model, 1)
    store = ck.CheckpointStore(tmp_path)
    best = best_of(model, value=0.5, epoch=1)
    early = SimpleNamespace(wait=0, stopped_epoch=0, best_epoch=0, best=math.inf)
    callback = ck.checkpointer(store, 1, 4, best, early, None)
    assert isinstance(callback, keras.callbacks.Callback)
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    assert (best.best, early.best) == (0.5, math.inf)  # nothing to restore
    callback.on_epoch_end(0, {"loss": float("nan")})
    callback.on_epoch_end(0, {"loss": float("inf")})
    callback.on_epoch_end(0, {})
    callback.on_epoch_end(0, None)
    assert store.epoch_files(1) == []  # a NaN epoch is never a resume point
    callback.on_epoch_end(0, {"loss": 0.5})
    callback.on_epoch_end(2, {"loss": np.float32(0.5)})
    files = store.epoch_files(1)
    assert [p.name for p in files] == ["fold1-epoch0003.npz", "fold1-epoch0001.npz"]
    assert [json.loads(str(ck.read_npz(p)["meta"]))["fit_done"] for p in files] == [False, False]
    callback.on_epoch_end(3, {"loss": 0.5})  # the last epoch
    assert json.loads(str(ck.read_npz(store.epoch_files(1)[0])["meta"]))["fit_done"] is True
    early_end = ck.checkpointer(ck.CheckpointStore(tmp_path / "b"), 1, 4, best, early, None)
    early_end.set_model(model)
    model.stop_training = True  # early stopping ended the fold
    early_end.on_epoch_end(1, {"loss": 0.5})
    assert json.loads(str(ck.read_npz(tmp_path / "b/checkpoints/fold1-epoch0002.npz")["meta"]))["fit_done"] is True
    model.stop_training = False

    ckpt = ck.CheckpointStore(tmp_path).load_epoch(1, small_model(), 4)
    restored_best = SimpleNamespace(best=-math.inf, best_epoch=0, best_weights=None, best_logs={})
    restored_early = SimpleNamespace(wait=5, stopped_epoch=5, best_epoch=5, best=5.0)
    resumed = ck.checkpointer(store, 1, 4, restored_best, restored_early, ckpt)
    resumed.on_train_begin()
    assert (restored_best.best, restored_best.best_epoch) == (0.5, 1)
    assert (restored_early.wait, restored_early.best) == (0, 5.0)  # its saved best was inf: none
