"""kopt tune's command module keeps no state between calls: the plan and the errors of one call
live in that call (closures), not in module globals."""

from __future__ import annotations

import pytest

from kopt.commands import tune


def test_a_second_call_does_not_see_the_first_calls_study(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    calls = []

    def app(task, argv, config_name, prog):  # the Hydra app, stubbed: nothing trains
        calls.append(argv)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(tune, "run_hydra_app", app)
    tune.main(["dataset=digits", "model=cnn", "tuner.study_name=first_study"])
    capsys.readouterr()
    with pytest.raises(KeyboardInterrupt):
        tune.main(["--help"])  # prints only: no study of its own
    assert "first_study" not in capsys.readouterr().err
