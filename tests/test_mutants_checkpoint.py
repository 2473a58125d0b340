"""kopt.training.checkpoint's file checks without Keras (`make mutants`): headers, names, shapes, the
finished-fold record and the early-stopping state. tests/test_resume_cli.py resumes real runs."""

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
