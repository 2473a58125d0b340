"""Faults around a study's storage and folder: a torn or damaged journal, a full disk, a study
name reused for another study, and workers started together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SERVICE_GROUP, TINY, assert_clean_error, kopt_env, read_summary, run_kopt

pytestmark = pytest.mark.slow

STUDY = [
    "tuner=random",
    "pruner=none",
    "tuner.retrain_best=false",
    "tuner.plots=false",
    "trainer.epochs=1",
    "search.model.width=choice(8, 12, 16, 24, 32)",
    "search.optimizer.lr=tag(log, interval(1e-3, 1e-2))",
]


def tune(name: str, n_trials: int, *extra: str) -> list[str]:
    return ["tune", *TINY, *STUDY, f"tuner.study_name={name}", f"tuner.n_trials={n_trials}", *extra]


def journal_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]  # every line whole JSON


def finished(study: Path, name: str) -> int:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(study / "journal.log")))  # as `optuna trials` opens it
    return sum(t.state.name == "COMPLETE" for t in optuna.load_study(study_name=name, storage=storage).trials)


def test_a_torn_journal_tail_is_repaired_and_a_damaged_middle_is_one_line(tmp_path):
    study = tmp_path / "runs" / "tune" / "torn"
    proc = run_kopt(*tune("torn", 2), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    journal = study / "journal.log"
    whole = journal.read_bytes()
    journal.write_bytes(whole[:-40])  # a write cut short

    proc = run_kopt(*tune("torn", 3), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "torn record" in proc.stderr and "Traceback" not in proc.stderr
    backups = list(study.glob("journal.log.*.bak"))
    assert len(backups) == 1 and backups[0].read_bytes() == whole[:-40]  # the file as it was
    journal_lines(journal)
    assert finished(study, "torn") == 3

    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:3] + [b'{"op_code": 5, "worker_id": \n'] + lines[3:]))
    proc = run_kopt(*tune("torn", 4), cwd=tmp_path)
    assert_clean_error(proc, "journal.log: line 4 is not a valid journal record", ".bak")


def _mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir()
    if os.geteuid() != 0:
        return False
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
        ).returncode
        == 0
    )


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_during_tune_is_one_line_and_the_study_continues_after(tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "8m"):
        pytest.skip("cannot mount a small tmpfs here (needs root and mount permission)")
    try:
        proc = run_kopt(*tune("full", 1), cwd=disk)
        assert proc.returncode == 0, proc.stderr[-3000:]
        filler = _fill(disk)
        for _ in range(2):
            proc = run_kopt(*tune("full", 3), cwd=disk)
            assert_clean_error(proc, "No space left on device")
            assert "Logging error" not in proc.stderr
        filler.unlink()
        proc = run_kopt(*tune("full", 3), cwd=disk)
        assert proc.returncode == 0, proc.stderr[-3000:]
        study = disk / "runs" / "tune" / "full"
        journal_lines(study / "journal.log")
        assert finished(study, "full") == 3
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_study_name_never_overwrites_another_studys_trials(tmp_path):
    study = tmp_path / "runs" / "tune" / "dup"
    proc = run_kopt(*tune("dup", 1), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    before = {p: p.read_bytes() for p in (study / "trials").rglob("*") if p.is_file()}

    other = tmp_path / "elsewhere" / "journal.log"
    proc = run_kopt(*tune("dup", 1, f"tuner.storage={other}"), cwd=tmp_path)
    assert_clean_error(proc, "runs/tune/dup", "another study", "tuner.study_name")
    (study / "journal.log").unlink()
    proc = run_kopt(*tune("dup", 1), cwd=tmp_path)
    assert_clean_error(proc, "runs/tune/dup", "another study", "remove")
    assert {p: p.read_bytes() for p in (study / "trials").rglob("*") if p.is_file()} == before
    assert read_summary(study / "trials" / "0")["status"] == "completed"


# -- workers started together ------------------------------------------------------------------

WORKER = """
import sys, time
from pathlib import Path
from kopt.tune.trials.claim import claim
from kopt.tune.store.storage import open_storage
from kopt.tune.running.study import load_study, quiet_optuna
spec, name, study_dir, go, ready = sys.argv[1:6]
quiet_optuna()
study, plan = load_study(open_storage(spec), name)  # what `kopt worker` and tuner.n_workers do
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.01)
since = time.time()
while True:
    trial = claim(study, plan, Path(study_dir), since)
    if trial is None:
        break
    plan.space.sample(trial)  # what run_trial draws
    time.sleep(0.2)  # the "training": long enough that the two workers interleave
    study.tell(trial, 0.5)
"""


def make_study(spec: str, name: str, n_trials: int):
    from kopt.commands.tune import quote_search_overrides, validate_tune
    from kopt.compose import compose_and_validate, search_dirs
    from kopt.tune.planning.plan import build_plan
    from kopt.tune.running.study import open_study, quiet_optuna
    from kopt.tune.store.storage import open_storage

    argv = quote_search_overrides(
        [*TINY, *STUDY, f"tuner.study_name={name}", f"tuner.n_trials={n_trials}", f"tuner.storage={spec}"]
    )
    line, cfgs = compose_and_validate(argv, "tune", validators=[validate_tune])
    quiet_optuna()
    plan = build_plan(cfgs[0], line.overrides, search_dirs(None))
    return open_study(plan, open_storage(spec)), plan


# (pg_url is asked for inside the test, so conftest cannot see it: the PostgreSQL case joins the services' group here)
@pytest.mark.parametrize("kind", ["journal", pytest.param("postgresql", marks=pytest.mark.xdist_group(SERVICE_GROUP))])
def test_workers_started_together_draw_distinct_trials(kind, tmp_path, request):
    spec = str(tmp_path / "journal.log") if kind == "journal" else request.getfixturevalue("pg_url")
    study, _ = make_study(spec, "pair", 8)
    go, study_dir = tmp_path / "go", tmp_path / "runs" / "tune" / "pair"
    study_dir.mkdir(parents=True)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, spec, "pair", str(study_dir), str(go), str(tmp_path / f"ready{i}")],
            env=kopt_env(),
            text=True,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    deadline = time.time() + 120
    while not all((tmp_path / f"ready{i}").exists() for i in range(2)):  # both have joined the study
        assert all(p.poll() is None for p in procs) and time.time() < deadline, [p.communicate() for p in procs]
        time.sleep(0.05)
    go.touch()  # then they start together
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 8 and all(t.state.name == "COMPLETE" for t in trials)
    params = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(params)) == len(params), params


def test_one_process_draws_the_same_trials_on_every_rerun(tmp_path):
    from kopt.tune.trials.claim import claim

    draws = []
    for run in range(2):
        study, plan = make_study(str(tmp_path / f"{run}.log"), "solo", 4)
        while (trial := claim(study, plan, tmp_path, time.time())) is not None:
            plan.space.sample(trial)
            study.tell(trial, 0.5)
        draws.append([t.params for t in study.get_trials(deepcopy=False)])
    assert len(draws[0]) == 4 and draws[0] == draws[1]


def test_a_bad_last_line_of_the_journal_is_refused_as_a_bad_middle_line_is(tmp_path):
    """A whole last line (it ends in its newline) that is not JSON is damage, not a torn tail: refused
    with one line naming it, and the file left as it is (only a bad middle line was tested)."""
    from kopt.errors import KoptError
    from kopt.tune.store.journal import check_journal

    journal = tmp_path / "journal.log"
    data = b'{"op_code": 0}\n{"op_code": 1}\n{"op_code": 5, "worker_id": \n'
    journal.write_bytes(data)
    with pytest.raises(KoptError, match=r"journal\.log: line 3 is not a valid journal record"):
        check_journal(journal)
    assert journal.read_bytes() == data
    journal.write_bytes(data[: data.index(b"{", 30)])  # whole lines only: nothing to say
    assert check_journal(journal) is None
