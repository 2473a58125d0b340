"""The CLI surface: help, --cfg, config errors. None of these may import TensorFlow."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import assert_clean_error, kopt_env, run_kopt

NO_TF_SNIPPET = """
import sys
from kopt.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))
print('LOADED:', ','.join(loaded[:5]) or 'none')
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["train", "--help"],
        ["train", "--cfg", "job"],
        ["train", "model=nope"],
        ["train", "trainer.epochs=0"],
        ["tune", "search=cnn_digits", "--cfg", "job"],
        ["tune", "--cfg", "job"],
        ["tune", "--help"],
        ["models", "--help"],
    ],
)
def test_fast_paths_never_import_tensorflow(argv, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", NO_TF_SNIPPET.format(argv=argv)],
        cwd=tmp_path,
        env=kopt_env(),
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert "LOADED: none" in proc.stdout, proc.stdout + proc.stderr
    assert not (tmp_path / "runs").exists()


def test_top_level_help_lists_commands_and_groups(tmp_path):
    proc = run_kopt("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "train" in proc.stdout
    for group in ("model", "dataset", "split", "regularizer", "augment", "optimizer", "trainer"):
        assert f"  {group}" in proc.stdout
    assert "cnn" in proc.stdout and "kfold" in proc.stdout


def test_train_help_is_hydra_help_with_groups(tmp_path):
    proc = run_kopt("train", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "== Config groups ==" in proc.stdout
    assert "model: " in proc.stdout and "split: " in proc.stdout
    groups = proc.stdout.split("== Config groups ==")[1].split("== Config ==")[0]
    assert not {"tuner", "pruner", "search"} & {line.split(":")[0] for line in groups.splitlines()}  # kopt tune's
    assert "kopt train -m model=mlp,cnn" in proc.stdout
    assert not (tmp_path / "runs").exists()


def test_tune_help_has_its_own_header_and_examples(tmp_path):
    proc = run_kopt("tune", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("kopt tune: an Optuna study") and "search: cnn_digits, resnet" in proc.stdout
    assert (
        "\ntuner: auto, bayes" in proc.stdout
        and "\npruner: auto, hyperband" in proc.stdout
        and "\nmodel: cnn" in proc.stdout
    )
    examples = proc.stdout.split("Examples:")[1]
    assert "kopt tune tuner=bayes tuner.n_trials=50" in examples and "kopt train" not in examples
    assert not (tmp_path / "runs").exists()


def test_cfg_job_prints_composed_config_with_overrides(tmp_path):
    proc = run_kopt("train", "--cfg", "job", "model=mlp", "model.width=7", "split=kfold", "split.k=3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    import yaml

    cfg = yaml.safe_load(proc.stdout)
    assert cfg["model"] == {"name": "mlp", "width": 7, "depth": 2}
    assert cfg["split"]["name"] == "kfold" and cfg["split"]["k"] == 3
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "args, needles",
    [
        (["model=foo"], ["model=foo", "allowed: cnn"]),
        (["regularizer.dropout=1.5"], ["regularizer.dropout", "< 1"]),
        (["split=kfold", "split.k=1"], ["split.k", ">= 2"]),
        (["trainer.epochs=0"], ["trainer.epochs", ">= 1"]),
        (["trainer.epochs=abc"], ["trainer.epochs", "an integer"]),
        (["trainer.epoch=3"], ["trainer.epoch", "epochs"]),
        (["regularizer.batchnorm=maybe"], ["regularizer.batchnorm", "true or false"]),
        (["optimizer.lr=-1"], ["optimizer.lr", "> 0"]),
        (["optimizer.schedule.name=poly"], ["optimizer.schedule.name", "cosine"]),
        (["model=mlp,cnn"], ["-m"]),
        (["-m", "model=mlp,cnn", "trainer.epochs=0"], ["trainer.epochs"]),
        (["foo=1"], ["foo", "seed"]),
        (["model=["], ["parse"]),
        (["-m", "seed=0,1", "--help"], ["seed=0,1"]),
        (["dataset=iris"], ["model=cnn", "dataset=iris", "model=mlp"]),
        (["optimizer.lr="], ["optimizer.lr", "a number"]),
        (["regularizer.bn_momentum=1"], ["regularizer.bn_momentum", "< 1"]),
        (["regularizer.bn_momentum=0"], ["regularizer.bn_momentum", "> 0"]),
    ],
)
def test_bad_input_is_one_clear_line(args, needles, tmp_path):
    proc = run_kopt("train", *args, cwd=tmp_path)
    assert_clean_error(proc, *needles)
    assert proc.returncode == 2
    assert not (tmp_path / "runs").exists()


def test_unknown_command(tmp_path):
    proc = run_kopt("trian", cwd=tmp_path)
    assert_clean_error(proc, "trian", "train")


def test_tune_cfg_job_with_flags_after_overrides(tmp_path):
    proc = run_kopt("tune", "search=cnn_digits", "tuner.n_trials=7", "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "n_trials: 7" in proc.stdout and "search:" in proc.stdout
    assert not (tmp_path / "runs").exists()


def test_cfg_job_prints_even_when_data_files_are_missing(tmp_path):
    proc = run_kopt("train", "dataset=cifar10", "--cfg", "job", cwd=tmp_path, env={"KERAS_HOME": str(tmp_path / "k")})
    assert proc.returncode == 0, proc.stderr
    assert "name: cifar10" in proc.stdout
    assert_clean_error(
        run_kopt("train", "dataset=cifar10", cwd=tmp_path, env={"KERAS_HOME": str(tmp_path / "k")}), "cifar-10"
    )


def test_user_config_dir_adds_options(tmp_path):
    (tmp_path / "mine" / "model").mkdir(parents=True)
    (tmp_path / "mine" / "model" / "tiny.yaml").write_text("name: mlp\nwidth: 3\ndepth: 1\n")
    proc = run_kopt("train", "--config-dir", str(tmp_path / "mine"), "model=tiny", "--cfg", "job", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "width: 3" in proc.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--cfg", "job"],
        ["train", "-c", "job", "model=cnn", "optimizer=sgd", "split=kfold", "split.k=3"],
        ["train", "--cfg", "job", "--config-dir", "{mine}", "model=tiny"],
        ["tune", "--cfg", "job"],
        ["tune", "--cfg", "job", "search=cnn_digits", "tuner.study_name=s1", "tuner.n_trials=7"],
        ["tune", "--cfg", "job", "model=mlp", "search.optimizer.lr=tag(log, interval(1e-4, 1e-1))"],
    ],
)
def test_cfg_job_prints_what_hydra_prints(argv, tmp_path, monkeypatch, capsys):
    """kopt prints `--cfg job` from the config it composed and validated, without Hydra composing the
    job again; the text is Hydra's own, byte for byte (Hydra's app on the same command line, with
    the search preset and the study name kopt tune pins)."""
    import yaml

    from kopt.cli import main
    from kopt.commands.tune import quote_search_overrides
    from kopt.hydra_app import run_hydra_app

    (tmp_path / "mine" / "model").mkdir(parents=True)
    (tmp_path / "mine" / "model" / "tiny.yaml").write_text("name: mlp\nwidth: 3\ndepth: 1\n")
    argv = [a.format(mine=tmp_path / "mine") for a in argv]
    monkeypatch.chdir(tmp_path)
    main(argv)
    printed = capsys.readouterr().out
    job = yaml.safe_load(printed)
    pins = []
    if argv[0] == "tune":
        pins = [f"tuner.study_name={job['tuner']['study_name']}"]
        if not any(a.startswith("search") for a in argv):
            pins.append("search=cnn_digits")
    hydra_argv = quote_search_overrides([*argv[1:], *pins])  # (as kopt tune hands them to Hydra)
    run_hydra_app(lambda cfg: None, hydra_argv, "tune" if argv[0] == "tune" else "config", "kopt")
    assert printed == capsys.readouterr().out
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "argv, compositions",
    [(["train", "--cfg", "job"], 1), (["tune", "--cfg", "job", "search=cnn_digits"], 1), (["tune", "--cfg", "job"], 2)],
)
def test_cfg_job_composes_each_config_once(argv, compositions, tmp_path, monkeypatch, capsys):
    """Start-up time (issue 21): `--cfg job` composed the job twice, once to validate it and once
    more in Hydra's app to print it (plain `kopt tune` composes the model's search preset too)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    from kopt.cli import main

    calls = []
    original = ConfigLoaderImpl.load_configuration

    def counting(self, *args, **kwargs):
        calls.append(kwargs.get("config_name", args[0] if args else None))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ConfigLoaderImpl, "load_configuration", counting)
    monkeypatch.chdir(tmp_path)
    main(argv)
    assert "model:" in capsys.readouterr().out
    assert len(calls) == compositions, calls
