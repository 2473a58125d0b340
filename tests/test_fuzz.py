"""Property test: every bad override makes `kopt train` (and `kopt tune`) exit non-zero with ONE clear line, no
traceback, and nothing under runs/. The bad values are generated from the schemas themselves
(every registered option, every field with a range or a type), plus unknown keys, odd
characters and paths that try to leave the runs folder.

Bad input is found before TensorFlow loads, so the CLI is called in-process (fast enough for
hundreds of examples); a few subprocess checks make sure the real command behaves the same.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
import typing
from pathlib import Path
from unittest import mock

import pytest
from conftest import TINY, assert_clean_error, run_kopt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kopt.paths import config_dir
from kopt.schemas import registry

# --- what the schemas allow ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Field:
    group: str  # "" for top-level keys
    option: str | None  # the group option that has this field (None for top-level keys)
    key: str  # dotted key, e.g. trainer.early_stopping.patience
    type: object
    bounds: tuple  # (name, bound) pairs: ge, gt, le, lt, choices


def _leaves(cls, prefix: str):
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(f.type):
            yield from _leaves(f.type, f"{prefix}{f.name}.")
        elif f.name != "name":
            yield f"{prefix}{f.name}", f.type, tuple(sorted(f.metadata.items()))


def schema_fields() -> list[Field]:
    fields = []
    for group, options in registry().items():
        for option, cls in options.items():
            if group == "root":
                fields += [Field("", None, key, typ, b) for key, typ, b in _leaves(cls, "")]
            elif (config_dir() / group / f"{option}.yaml").is_file():
                fields += [Field(group, option, key, typ, b) for key, typ, b in _leaves(cls, f"{group}.")]
    return fields


FIELDS = schema_fields()
GROUPS = sorted({f.group for f in FIELDS if f.group})


def _base(t):
    args = [a for a in typing.get_args(t) if a is not type(None)]
    return args[0] if typing.get_origin(t) is typing.Union and args else t


def _fmt(value) -> str:
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value == math.inf else "-inf" if value == -math.inf else repr(value))
        )
    return str(value)


# --- bad overrides ------------------------------------------------------------------------------
identifier = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=8)
unknown = identifier.map(lambda s: "zz" + s)  # never a real key or option


def _select(field: Field) -> list[str]:
    return [f"{field.group}={field.option}"] if field.option else []


def out_of_range(field: Field):
    bounds = dict(field.bounds)
    base = _base(field.type)
    elem = typing.get_args(base)[0] if typing.get_origin(base) is list else base
    if "choices" in bounds:
        values = unknown
    elif elem is int:
        options = []
        if "ge" in bounds:
            options.append(st.integers(bounds["ge"] - 10**6, bounds["ge"] - 1))
        if "gt" in bounds:
            options.append(st.integers(bounds["gt"] - 10**6, bounds["gt"]))
        if "le" in bounds:
            options.append(st.integers(bounds["le"] + 1, bounds["le"] + 10**6))
        if "lt" in bounds:
            options.append(st.integers(bounds["lt"], bounds["lt"] + 10**6))
        values = st.one_of(options)
    else:
        options = [st.just(math.nan)]
        if "ge" in bounds:
            options.append(st.floats(max_value=bounds["ge"], exclude_max=True, allow_nan=False))
        if "gt" in bounds:
            options.append(st.floats(max_value=bounds["gt"], allow_nan=False))
        if "le" in bounds:
            options.append(st.floats(min_value=bounds["le"], exclude_min=True, allow_nan=False))
        if "lt" in bounds:
            options.append(st.floats(min_value=bounds["lt"], allow_nan=False))
        values = st.one_of(options)
    if typing.get_origin(base) is list:
        return values.map(lambda v: _select(field) + [f"{field.key}=[{_fmt(v)}]"])
    return values.map(lambda v: _select(field) + [f"{field.key}={_fmt(v)}"])


def wrong_type(field: Field):
    base = _base(field.type)
    if base is int:
        values = st.one_of(
            unknown,
            st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: v != int(v)).map(repr),
            st.just("[1,2]"),
            st.just("{a:1}"),
        )
    elif base is float:
        values = st.one_of(unknown, st.just("[0.5]"), st.just("{a:1}"))
    elif base is bool:
        values = st.one_of(unknown, st.integers(2, 99).map(str), st.just("[true]"))
    elif typing.get_origin(base) is list:
        values = st.one_of(unknown, st.just("{a:1}"))
    else:
        return None
    return values.map(lambda v: _select(field) + [f"{field.key}={v}"])


RANGED = [f for f in FIELDS if f.bounds]
TYPED = [f for f in FIELDS if wrong_type(f) is not None]

odd_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)
odd_key = st.tuples(st.sampled_from(["", *[g + "." for g in GROUPS]]), odd_text).map(
    lambda t: t[0] + "zz" + t[1].replace("=", "_")
)
path_tail = identifier.map(lambda s: s or "x")
escape_paths = st.one_of(
    path_tail.map(lambda s: f"runs/../{s}"),
    path_tail.map(lambda s: f"../{s}"),
    path_tail.map(lambda s: f"/tmp/{s}"),
    path_tail.map(lambda s: f"runs/train/../../{s}"),
    st.just("/"),
    st.just(".."),
    st.just("runs"),
    st.just("."),
)

bad_override = st.one_of(
    st.sampled_from(RANGED).flatmap(out_of_range),
    st.sampled_from(TYPED).flatmap(wrong_type),
    st.tuples(st.sampled_from(["", *[g + "." for g in GROUPS]]), unknown).map(lambda t: [f"{t[0]}{t[1]}=1"]),
    unknown.map(lambda s: [f"+{s}=1"]),  # appended unknown key
    st.tuples(st.sampled_from(GROUPS), st.one_of(unknown, odd_text)).map(lambda t: [f"{t[0]}={t[1]}"]),
    odd_key.map(lambda k: [f"{k}=1"]),
    # (hydra.run.dir / hydra.sweep.dir may be any folder; the job folders under a sweep may not escape it)
    st.tuples(
        st.sampled_from(["hydra.sweep.subdir", "hydra.output_subdir"]),
        escape_paths.filter(lambda p: p.startswith("/") or ".." in p),
    ).map(lambda t: [f"{t[0]}={t[1]}"]),
    st.tuples(
        st.sampled_from(["name", "hydra.job.name"]),
        st.one_of(
            path_tail.map(lambda s: f"../{s}"),
            path_tail.map(lambda s: f"a/{s}"),
            path_tail.map(lambda s: f"{s}..{s}"),
            st.just(".."),
            odd_text.map(lambda s: f"x\x01{s}"),
        ),
    ).map(lambda t: [f"{t[0]}='{t[1]}'"]),
    st.one_of(escape_paths, path_tail.map(lambda s: f"runs/train/{s}")).map(lambda p: [f"resume={p}"]),
    st.sampled_from(["=1", "a==b", "[", "model=", "trainer.epochs=1,", "~nope", "trainer.epochs=${oops}"]).map(
        lambda s: [s]
    ),
)


@st.composite
def command_lines(draw):
    bad = draw(bad_override)
    prefix = draw(st.sampled_from([[], TINY[:2], TINY]))
    multirun = draw(st.booleans())
    if multirun and len(bad) and "=" in bad[-1] and not bad[-1].startswith(("=", "resume", "hydra")):
        key, _, value = bad[-1].partition("=")
        if "," not in value and not value.startswith(("[", "{", "'")):
            bad = [*bad[:-1], f"{key}=1,{value}"] if draw(st.booleans()) else bad  # the bad value in a sweep
    argv = ["train", *(["-m"] if multirun else []), *prefix, *bad]
    return argv


def run_in_process(argv: list[str]) -> tuple[int, str, str]:
    from kopt.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def _accepted(*args, **kwargs):
    raise AssertionError("a bad command line was accepted and would have run")


@pytest.fixture
def empty_cwd(tmp_path):
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


@settings(
    max_examples=int(os.environ.get("KOPT_FUZZ_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=command_lines())
def test_bad_overrides_give_one_clean_error(argv, empty_cwd):
    with mock.patch("kopt.commands.train.run_hydra_app", _accepted):  # (the folder has no run to resume)
        code, out, err = run_in_process(argv)
    assert code != 0, (argv, out, err)
    assert "Traceback" not in out + err, (argv, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("kopt: error: "), (argv, err)
    assert len(lines[0]) > len("kopt: error: ") + 5, (argv, err)
    assert not Path("runs").exists(), argv
    assert sorted(os.listdir(".")) == [], (argv, os.listdir("."))


TUNE_SEARCH = "search.model.width=choice(8, 16)"  # a valid search: the bad override is the only error
bad_search = st.one_of(
    st.tuples(st.sampled_from(["model", "optimizer", "regularizer", "trainer"]), unknown).map(
        lambda t: [f"search.{t[0]}.{t[1]}=choice(1, 2)"]
    ),
    st.sampled_from(
        [
            "search.optimizer.lr=interval(1e-3",
            "search.model.width=choice()",
            "search.model.width=zz(1)",
            "search.optimizer.lr=interval(1e-1, 1e-3)",
            "search.regularizer.dropout=interval(0.5, 1.5)",
            "search.model.width=int(interval(0, 4))",
            "search.optimizer.lr=tag(log, interval(-1, 1))",
            "search.model=choice(nope)",
        ]
    ).map(lambda s: [s]),
    st.tuples(
        st.just("tuner.study_name"),
        st.one_of(
            escape_paths.filter(lambda p: "/" in p or p.startswith(".")),
            path_tail.map(lambda s: f"a/{s}"),
            path_tail.map(lambda s: f".{s}"),
        ),
    ).map(lambda t: [f"{t[0]}='{t[1]}'"]),
)


@st.composite
def tune_command_lines(draw):
    bad = draw(st.one_of(bad_override, bad_search))
    prefix = draw(st.sampled_from([[], TINY]))
    return ["tune", *prefix, TUNE_SEARCH, *bad]


@settings(
    max_examples=int(os.environ.get("KOPT_FUZZ_TUNE_EXAMPLES", "60")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=tune_command_lines())
def test_bad_tune_overrides_give_one_clean_error(argv, empty_cwd):
    with mock.patch("kopt.commands.tune.run_hydra_app", _accepted):
        code, out, err = run_in_process(argv)
    assert code != 0, (argv, out, err)
    assert "Traceback" not in out + err, (argv, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("kopt: error: "), (argv, err)
    assert sorted(os.listdir(".")) == [], (argv, os.listdir("."))


def test_fuzz_covers_every_group_and_bound():
    """The generators above reach every registered option with a range or a type to get wrong."""
    assert {f.group for f in RANGED} >= {"dataset", "split", "model", "regularizer", "optimizer", "trainer", ""}
    assert any(f.key == "optimizer.schedule.gamma" for f in RANGED)
    assert any(f.key == "trainer.early_stopping.patience" for f in RANGED)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["trainer.epochs=-1"], "trainer.epochs"),
        (["+zzunknown=1"], "zzunknown"),
        (["hydra.sweep.subdir=../x"], "hydra.sweep.subdir"),
        (["name=../../x"], "not a safe name"),
        (["-m", "seed=0,-1"], "seed=-1"),
        (["optimizer.lr=abc"], "optimizer.lr"),
    ],
)
def test_bad_overrides_as_a_user_runs_them(args, needle, tmp_path):
    proc = run_kopt("train", *TINY, *args, cwd=tmp_path)
    assert_clean_error(proc, needle)
    assert proc.stdout == ""
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "override",
    [
        "hydra.run.dir=runs/${hydra.job.name}/s${seed}",
        "hydra.run.dir=runs/a..b/c",
        "hydra.sweep.dir=runs/multirun/mine",
        "name=baseline-v1.2",
    ],
)
def test_paths_inside_runs_and_safe_names_are_accepted(override, tmp_path):
    proc = run_kopt("train", "--cfg", "job", override, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["tuner.study_name=../../x"], "tuner.study_name"),
        (["resume=last"], "kopt tune does not take resume"),
        (["search.model.zzwidth=choice(1, 2)"], "zzwidth"),
    ],
)
def test_bad_tune_overrides_as_a_user_runs_them(args, needle, tmp_path):
    proc = run_kopt("tune", *TINY, TUNE_SEARCH, *args, cwd=tmp_path)
    assert_clean_error(proc, needle)
    assert not (tmp_path / "runs").exists()
