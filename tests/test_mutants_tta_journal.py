"""kopt.tta's views and kopt.tune.store.journal's repair, value by value, without a model or a study (`make mutants`)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from kopt import tta
from kopt.errors import KoptError
from kopt.tune.store import journal

# one 4x4 grey image with values 0..15 (row-major), batch of 1
IMG = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)


def test_check_names_the_mode_and_the_key():
    with pytest.raises(KoptError, match=r"^trainer\.tta=spin: unknown; allowed: none, flip, crop, flip\+crop$"):
        tta.check("spin", (2, 4, 4, 1))
    with pytest.raises(
        KoptError,
        match=r"^--tta=flip: flips and crops need images \(n, H, W, C\); these inputs are tabular \(shape \(3,\)\); "
        r"allowed: none$",
    ):
        tta.check("flip", (5, 3), key="--tta")
    tta.check("none", (5, 3))  # tabular inputs take the plain view
    tta.check("crop", (5, 4, 4, 1))


def test_shift_moves_the_image_and_repeats_its_edge():
    down = tta._shift(IMG, 1, 0)[0, :, :, 0]
    assert down.tolist() == [[0, 1, 2, 3], [0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    left = tta._shift(IMG, 0, -2)[0, :, :, 0]
    assert left.tolist() == [[2, 3, 3, 3], [6, 7, 7, 7], [10, 11, 11, 11], [14, 15, 15, 15]]
    both = tta._shift(IMG, -1, 2)[0, :, :, 0]
    assert both.tolist() == [[4, 4, 4, 5], [8, 8, 8, 9], [12, 12, 12, 13], [12, 12, 12, 13]]


def test_views_of_each_mode():
    assert [v[0, :, :, 0].tolist() for v in tta.views(IMG, "none")] == [IMG[0, :, :, 0].tolist()]
    flip = list(tta.views(IMG, "flip"))
    assert len(flip) == 2 and flip[1][0, 0, :, 0].tolist() == [3, 2, 1, 0]
    crop = list(tta.views(IMG, "crop"))
    # a 4x4 image shifts by max(1, round(4 / 8)) = 1 pixel: down, up, right, left
    assert [v[0, :, :, 0][1].tolist() for v in crop] == [
        [4, 5, 6, 7],
        [0, 1, 2, 3],
        [8, 9, 10, 11],
        [4, 4, 5, 6],
        [5, 6, 7, 7],
    ]
    assert len(list(tta.views(IMG, "flip+crop"))) == 6
    big = np.zeros((1, 24, 40, 1))
    big[0, 0, 0, 0] = 1
    shifts = list(tta.views(big, "crop"))  # round(24 / 8) = 3 pixels
    assert shifts[1][0, :5, 0, 0].tolist() == [1, 1, 1, 1, 0]  # down 3: rows 0..3 repeat row 0
    assert shifts[3][0, 0, :5, 0].tolist() == [1, 1, 1, 1, 0]  # right 3
    assert [v.sum() for v in shifts] == [1, 4, 0, 4, 0]  # up and left: the pixel moved out
    assert {v.shape for v in shifts} == {(1, 24, 40, 1)}
    with pytest.raises(KoptError):
        list(tta.views(np.zeros((2, 3)), "flip"))


def test_n_views():
    assert [tta.n_views(m) for m in ("none", "flip", "crop", "flip+crop")] == [1, 2, 5, 6]


def test_average_is_the_mean_over_the_views_as_float32():
    seen = []

    def predict(view):
        seen.append(view.flags["C_CONTIGUOUS"])
        return [[float(view[0, 0, 0, 0]), 1.0]]  # the top-left pixel of each view

    out = tta.average(predict, IMG.tolist(), "flip")
    assert out.dtype == np.float32 and out.tolist() == [[1.5, 1.0]]  # (0 + 3) / 2
    assert seen == [True, True]
    assert tta.average(predict, IMG, "none").tolist() == [[0.0, 1.0]]
    # crop: top-left pixels 0 (down: row 0 repeated), 4 (up), 0 (right), 1 (left), and 0 as is
    assert tta.average(predict, IMG, "crop").tolist() == [[1.0, 1.0]]


RECORD = b'{"op_code": 0, "worker_id": "a"}\n'


def test_a_whole_or_absent_journal_is_left_alone(tmp_path, capsys):
    path = tmp_path / "journal.log"
    assert journal.check_journal(path) is None
    path.write_bytes(RECORD * 2)
    assert journal.check_journal(path) is None
    assert path.read_bytes() == RECORD * 2 and list(tmp_path.iterdir()) == [path]
    assert capsys.readouterr().err == ""


def test_a_torn_tail_is_cut_off_after_a_backup(tmp_path, capsys):
    path = tmp_path / "journal.log"
    path.write_bytes(RECORD * 2 + b'{"op_code": 1, "wor')
    message = journal.check_journal(path)
    (backup,) = tmp_path.glob("journal.log.*.bak")
    assert path.read_bytes() == RECORD * 2
    assert backup.read_bytes() == RECORD * 2 + b'{"op_code": 1, "wor'
    assert message == (
        f"kopt: {path} ended in a torn record (19 bytes from an interrupted write); cut it off, "
        f"the file as it was is at {backup.name}"
    )
    assert capsys.readouterr().err == message + "\n"
    assert not (tmp_path / "journal.log.lock").exists()  # the lock is released


def test_a_bad_line_in_the_middle_is_one_line_naming_it(tmp_path):
    path = tmp_path / "journal.log"
    data = RECORD + b"not json\n" + RECORD + b"[1]\n" + b"{torn"
    path.write_bytes(data)
    with pytest.raises(KoptError) as err:
        journal.check_journal(path)
    (backup,) = tmp_path.glob("journal.log.*.bak")
    assert str(err.value) == (
        f"{path}: line 2 is not a valid journal record (a damaged study storage); a copy is at {backup.name}. "
        "Remove the lines from 2 on to keep the trials before it, or start a new study with another "
        "tuner.study_name"
    )
    assert path.read_bytes() == data  # nothing cut
    with pytest.raises(KoptError):
        journal.check_journal(path)
    assert list(tmp_path.glob("journal.log.*.bak")) == [backup]  # the same bytes: the same backup


def test_first_bad_line_stops_at_the_end_of_the_complete_lines(tmp_path):
    path = tmp_path / "j"
    path.write_bytes(RECORD + b"bad\n" + b"bad")
    assert journal._first_bad_line(path, len(RECORD)) is None
    assert journal._first_bad_line(path, len(RECORD) + 4) == 2
    assert journal._first_bad_line(path, len(RECORD) + 3) is None
    assert journal._scan(path) == (len(RECORD) + 7, len(RECORD) + 4, 2)
    path.write_bytes(b"")
    assert journal._scan(path) == (0, 0, None)


def test_backups_of_different_bytes_get_new_names(tmp_path):
    path = tmp_path / "journal.log"
    path.write_bytes(b"one")
    first = journal._backup(path)
    path.write_bytes(b"two")
    second = journal._backup(path)
    path.write_bytes(b"three")
    third = journal._backup(path)
    assert len({first, second, third}) == 3
    assert [p.read_bytes() for p in (first, second, third)] == [b"one", b"two", b"three"]
    assert first.name.startswith("journal.log.") and first.name.endswith(".bak")
    path.write_bytes(b"two")
    assert journal._backup(path) == second
    path.write_bytes(b"twx")  # the same size, other bytes
    assert journal._backup(path) not in (first, second, third)
    assert os.stat(first).st_size == 3 and json.dumps(first.name)


def test_the_crop_shift_is_an_eighth_of_the_smaller_side_rounded():
    for side, shift in ((40, 5), (36, 4), (12, 2), (11, 1), (3, 1)):
        x = np.zeros((1, side, side + 7, 1))
        x[0, 0, 0, 0] = 1
        down = list(tta.views(x, "crop"))[1]
        assert down[0, :, 0, 0].sum() == shift + 1, side  # row 0 repeated into the gap
