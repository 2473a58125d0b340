"""TensorFlow's C++ start-up lines (absl's InitializeLog warning, oneDNN, CUDA probing) stay hidden
when a Ctrl-C stops kopt while TensorFlow loads; a real failure of the import still shows them."""

from __future__ import annotations

import os
import signal
import time

import pytest
from conftest import TINY, as_from_a_terminal, start_fresh_kopt

from kopt.runtime import stderr_to_buffer


def test_an_interrupt_does_not_replay_the_held_start_up_lines(capfd):
    for stop in (KeyboardInterrupt, SystemExit):
        with pytest.raises(stop), stderr_to_buffer():
            os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on\n")
            raise stop()
        assert "oneDNN" not in capfd.readouterr().err


def test_a_failure_still_shows_the_held_lines(capfd):
    with pytest.raises(ImportError), stderr_to_buffer():
        os.write(2, b"cannot load libtensorflow_framework.so.2\n")
        raise ImportError("boom")
    assert "libtensorflow_framework" in capfd.readouterr().err


def test_ctrl_c_while_tensorflow_loads_prints_no_start_up_lines(tmp_path):
    unset = {"TF_CPP_MIN_LOG_LEVEL": None, "ABSL_MIN_LOG_LEVEL": None}  # as a user's shell: nothing set
    proc = start_fresh_kopt("train", *TINY, cwd=tmp_path, env=unset, preexec_fn=as_from_a_terminal)
    seen = [proc.stdout.readline() for _ in range(2)]
    assert seen[1].startswith("run dir:"), seen  # TensorFlow is imported right after this line
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert "kopt: interrupted (SIGINT)" in err, err
    for noise in ("absl::InitializeLog", "oneDNN", "cuda", "I0000"):
        assert noise not in err, err
