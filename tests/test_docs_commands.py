"""Every one-line `kopt train` / `kopt tune` / `kopt lr-find` command in README.md and docs/*.md composes and
validates as written (in-process, nothing runs): the docs are the users' first contract."""

from __future__ import annotations

import re
import shlex

import pytest
from conftest import ROOT

# placeholders a reader fills in, and commands that need an existing run
SKIP = re.compile(r"<[^>]+>|resume=|PASSWORD@|--config-dir|\\$")


def documented_commands() -> list[tuple[str, str]]:
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        in_code = False
        for line in path.read_text().splitlines():
            if line.startswith("```"):
                in_code = not in_code
                continue
            command = line.split("  #")[0].strip()
            if in_code and re.match(r"kopt (train|tune|lr-find)\b", command) and not SKIP.search(command):
                found.append((f"{path.name}: {command}", command))
    return found


COMMANDS = documented_commands()


def test_the_docs_have_commands_to_check():
    assert len(COMMANDS) >= 20


@pytest.fixture(scope="module")
def keras_cache(tmp_path_factory):
    """A keras.datasets cache holding the (tiny, fake) files the documented datasets read."""
    import fake_datasets as fake

    home = tmp_path_factory.mktemp("keras")
    for write in (fake.write_mnist, fake.write_fashion_mnist, fake.write_cifar10, fake.write_cifar100):
        write(home / "datasets")
    return home


@pytest.mark.parametrize("command", [c for _, c in COMMANDS], ids=[i for i, _ in COMMANDS])
def test_documented_command_composes(command, keras_cache, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(keras_cache))
    if "logger=mlflow" in command:
        pytest.importorskip("mlflow", reason="logger=mlflow needs the optional mlflow extra")
    from kopt.commands.train import validate_train
    from kopt.commands.tune import quote_search_overrides, validate_tune
    from kopt.compose import compose_and_validate
    from kopt.custom_argv import open_custom_keys

    _, name, *argv = shlex.split(command)
    argv = [a for a in argv if a not in ("--cfg", "job")]
    if name == "lr-find":  # its own flags first (--min-lr ...), the rest are train overrides
        from kopt.commands.lrfind import parser

        argv = parser().parse_known_args(argv)[1]
    if name == "tune":
        argv, config, validators = quote_search_overrides(argv), "tune", [validate_tune]
    else:
        config, validators = "config", [validate_train]
    argv = open_custom_keys(argv)  # (as the commands do: model=custom's keys need no +)
    if "model._target_=mynets." in command:  # docs/custom.md: run where mynets.py is, as a user would
        import sys

        monkeypatch.chdir(ROOT / "examples" / "custom_model")
        monkeypatch.setattr(sys, "path", list(sys.path))
        monkeypatch.delitem(sys.modules, "mynets", raising=False)
    if "dataset._target_=myloader." in command:  # docs/data.md: run where myloader.py is
        import sys

        monkeypatch.chdir(ROOT / "examples" / "custom_data")
        monkeypatch.setattr(sys, "path", list(sys.path))
        monkeypatch.delitem(sys.modules, "myloader", raising=False)
    # documented data files (data.npz, images/) need not exist here
    line, cfgs = compose_and_validate(argv, config, validators=validators, machine=False)
    assert cfgs, command
