"""Tab completion: Hydra's bash script, installed for `kopt`, answers for `kopt train` and `kopt tune`.

As Hydra's own completion tests do, the query runs as a subprocess with COMP_LINE/COMP_POINT set;
one test evaluates the installed script in bash and calls its completion function.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import kopt_env, run_kopt


def complete(line: str, cwd, *command: str) -> list[str]:
    proc = run_kopt(*command, "-sc", "query=bash", cwd=cwd, env={"COMP_LINE": line, "COMP_POINT": str(len(line))})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.mark.parametrize("command", [(), ("train",)])  # what the script calls, and the form in the issue
def test_query_strips_kopt_and_its_command(tmp_path, command):
    assert "model=" in complete("kopt train mod", tmp_path, *command)
    models = complete("kopt train model=", tmp_path, *command)
    assert {"model=cnn", "model=mlp", "model=resnet"} <= set(models)
    assert "train" not in models and not any(m.startswith("model=model") for m in models)
    assert "trainer.epochs=" in complete("kopt train trainer.ep", tmp_path, *command)


def test_tune_completes_its_own_groups_and_the_command_word(tmp_path):
    tuners = complete("kopt tune tuner=", tmp_path)
    assert {"tuner=bayes", "tuner=grid", "tuner=random"} <= set(tuners)
    assert {"train", "tune", "report"} <= set(complete("kopt ", tmp_path))
    assert complete("kopt report run", tmp_path) == []  # no words: the shell completes file names
    # the cursor, not the end of the line, decides what is completed
    line = "kopt train model= seed=1"
    proc = run_kopt(
        "-sc", "query=bash", cwd=tmp_path, env={"COMP_LINE": line, "COMP_POINT": str(len("kopt train model="))}
    )
    assert "model=mlp" in proc.stdout.split()


def test_bad_shell_completion_request_is_one_line(tmp_path):
    proc = run_kopt("train", "-sc", "install=tcsh", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "kopt: error: -sc install=tcsh: unknown shell; allowed: bash, zsh, fish"
    ]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_installed_bash_script_registers_kopt_and_completes(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "kopt"  # the script runs `kopt` from PATH
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m kopt "$@"\n')
    shim.chmod(0o755)
    script = r"""
eval "$(kopt train -sc install=bash)"
complete -p kopt >/dev/null || echo "NOT REGISTERED FOR kopt"
complete -p train >/dev/null 2>&1 && echo "REGISTERED FOR train"
for line in "kopt train model=" "kopt tune tuner=g" "kopt train optimizer.l"; do
  COMP_LINE=$line; COMP_POINT=${#COMP_LINE}; words=($COMP_LINE); COMP_CWORD=$(( ${#words[@]} - 1 ))
  COMPREPLY=(); hydra_bash_completion; echo "$line -> ${COMPREPLY[*]}"
done
"""
    env = kopt_env({"PATH": f"{bindir}:{kopt_env()['PATH']}"})
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, text=True, capture_output=True, timeout=120)
    out = proc.stdout
    assert "REGISTERED" not in out, out + proc.stderr
    replies = dict(line.split(" -> ") for line in out.splitlines() if " -> " in line)
    assert "model=cnn" in replies["kopt train model="].split(), out + proc.stderr
    assert set(replies["kopt tune tuner=g"].split()) == {"tuner=genetic", "tuner=gp", "tuner=grid"}
    assert "optimizer.lr=" in replies["kopt train optimizer.l"].split()
