"""kopt tune's command module keeps no state between calls: the plan and the errors of one call
live in that call (closures), not in module globals."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from kopt.commands import tune


def test_a_second_call_does_not_see_the_first_calls_study(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    calls = []

    def app(task, argv, config_name, prog, mode=None, composed=None):  # the Hydra app, stubbed: nothing trains
        calls.append(argv)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(tune, "run_hydra_app", app)
    tune.main(["dataset=digits", "model=cnn", "tuner.study_name=first_study"])
    capsys.readouterr()
    with pytest.raises(KeyboardInterrupt):
        tune.main(["--help"])  # prints only: no study of its own
    assert "first_study" not in capsys.readouterr().err


def test_the_default_search_preset_does_not_compose_the_job_again(tmp_path, monkeypatch):
    import kopt.compose
    from kopt.compose import compose_job, search_dirs
    from kopt.tune.planning import plan as plan_module
    from kopt.tune.planning.space import flatten

    monkeypatch.chdir(tmp_path)
    jobs, argvs, plans = [], [], []
    compose, build_plan = kopt.compose.compose_with_hydra, plan_module.build_plan

    def counting(config_name, *args, **kwargs):
        if config_name is not None:  # a whole job (None: one group option alone)
            jobs.append(config_name)
        return compose(config_name, *args, **kwargs)

    def keep_plan(*args, **kwargs):
        plans.append(build_plan(*args, **kwargs))
        return plans[-1]

    monkeypatch.setattr(kopt.compose, "compose_with_hydra", counting)
    monkeypatch.setattr(plan_module, "build_plan", keep_plan)
    monkeypatch.setattr(tune, "run_hydra_app", lambda task, argv, *a, **k: argvs.append(argv))
    tune.main(["dataset=digits", "model=cnn", "tuner.study_name=preset"])
    assert jobs == ["tune"]  # kopt's own compose; the Hydra app (stubbed here) composes its own
    assert "search=cnn_digits" in argvs[0]
    full = compose_job("tune", ["dataset=digits", "model=cnn", "search=cnn_digits"], search_dirs(None))
    assert plans[0].search == flatten(OmegaConf.to_container(full.search, resolve=True))
