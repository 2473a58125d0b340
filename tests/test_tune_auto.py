"""tuner=auto and pruner=auto (kopt/tune/planning/auto.py), and no wasted trials (kopt/tune/trials/dedup.py)."""

from __future__ import annotations

import copy

import optuna
import pytest
from conftest import TINY

from kopt.commands.tune import quote_search_overrides, validate_tune
from kopt.compose import compose_and_validate, search_dirs
from kopt.tune.planning.plan import build_plan
from kopt.tune.planning.space import parse_search

NUMERIC = {"optimizer.lr": "tag(log, interval(1e-3, 1e-1))", "model.width": "int(interval(8, 64))"}
CATEGORICAL = {"optimizer.lr": "tag(log, interval(1e-3, 1e-1))", "model.width": "choice(8, 16, 32)"}
CONDITIONAL = {"model": "choice(mlp, cnn)", "model.mlp.width": "choice(8, 16)", "optimizer.lr": "interval(1e-3, 1e-1)"}


def plan_of(tmp_path, monkeypatch, *overrides: str):
    """The plan `kopt tune OVERRIDES` would run (composed and checked; nothing trained)."""
    monkeypatch.chdir(tmp_path)
    line, cfgs = compose_and_validate(
        quote_search_overrides([*TINY, "tuner.study_name=s", *overrides]), "tune", [validate_tune]
    )
    return build_plan(cfgs[0], line.overrides, search_dirs(None))


@pytest.mark.parametrize(
    "space, has_gp, sampler",
    [
        (NUMERIC, True, "gp"),  # a small numeric space, torch installed: a Gaussian process
        (NUMERIC, False, "bayes"),  # ... without torch: TPE
        (CATEGORICAL, True, "bayes"),  # a choice among the parameters: TPE
        (CONDITIONAL, True, "bayes"),  # conditional parameters: TPE, grouped
    ],
)
def test_auto_picks_the_documented_sampler(space, has_gp, sampler):
    from kopt.tune.planning.auto import choose_sampler

    name, options, reason = choose_sampler(parse_search(space), n_trials=20, has_gp=has_gp)
    assert name == sampler and reason
    assert options["n_startup_trials"] == 5  # min(3 x 2 or 3 dims, 20 // 4)
    if space is CONDITIONAL:
        assert options["group"] is True


def test_auto_startup_size_follows_the_budget():
    from kopt.tune.planning.auto import choose_sampler

    space = parse_search(CATEGORICAL)
    assert choose_sampler(space, 12, False)[1]["n_startup_trials"] == 3  # a quarter of the budget
    assert choose_sampler(space, 200, False)[1]["n_startup_trials"] == 6  # 3 per dimension


def test_auto_resolves_in_the_plan_and_enumerates_a_small_finite_space(tmp_path, monkeypatch):
    plan = plan_of(tmp_path, monkeypatch, "tuner.n_trials=6", "search.model.width=choice(8, 16, 32)")
    assert plan.tuner_name == "grid" and plan.grid_size == 3 and plan.n_trials == 3
    assert "3 configurations" in plan.tuner["auto"]["reason"]
    plan = plan_of(tmp_path, monkeypatch, "tuner.n_trials=6", *(f"search.{k}={v}" for k, v in CATEGORICAL.items()))
    # 2 random start-up trials (a quarter of 6) on top of trial 0 (TINY's width=16, lr=1e-3 are in the space)
    assert plan.tuner_name == "bayes" and plan.tuner["n_startup_trials"] == 3 and plan.tuner["n_ei_candidates"] == 24
    from kopt.tune.planning.tuners import build_sampler

    assert type(build_sampler(plan)).__name__ == "TPESampler"
    # an explicit tuner keeps its own options
    plan = plan_of(tmp_path, monkeypatch, "tuner=bayes", "pruner=median", "search.model.width=choice(8, 16, 32)")
    assert plan.tuner_name == "bayes" and plan.tuner["n_startup_trials"] == 10 and "auto" not in plan.tuner
    assert plan.pruner == {
        "name": "median",
        "n_startup_trials": 5,
        "n_warmup_steps": 0,
        "interval_steps": 1,
        "n_min_trials": 1,
    }


@pytest.mark.parametrize(
    "epochs, folds, pruner", [(2, 1, "none"), (6, 1, "median"), (20, 1, "hyperband"), (4, 5, "wilcoxon")]
)
def test_auto_pruner_rule(epochs, folds, pruner):
    from kopt.tune.planning.auto import choose_pruner

    assert choose_pruner(epochs, folds)[0] == pruner


def _prunes_at(pruner, steps: int, n_good: int = 6) -> int | None:
    """The first step at which ``pruner`` stops a trial far below ``n_good`` finished ones."""
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for _ in range(n_good):
        trial = study.ask()
        for step in range(1, steps + 1):
            trial.report(0.9, step)
        study.tell(trial, 0.9)
    trial = study.ask()
    for step in range(1, steps + 1):
        trial.report(0.1, step)
        if trial.should_prune():
            return step
    return None


def test_default_pruner_warmup_fits_the_epochs(tmp_path, monkeypatch):
    """The default pruner never stops a trial in the first third of its epochs (the median pruner
    with no warm-up stopped the docs' best config after epoch 1)."""
    from kopt.tune.planning.pruners import build_pruner

    plan = plan_of(tmp_path, monkeypatch, "trainer.epochs=6", *(f"search.{k}={v}" for k, v in CATEGORICAL.items()))
    step = _prunes_at(build_pruner(plan.pruner), steps=6)
    assert step is not None and step > 2, plan.pruner  # pruned, but only after the 2-epoch warm-up
    assert plan.pruner["auto"]["n_warmup_steps"] == 2
    plan = plan_of(tmp_path, monkeypatch, "trainer.epochs=2", *(f"search.{k}={v}" for k, v in CATEGORICAL.items()))
    assert _prunes_at(build_pruner(plan.pruner), steps=2) is None  # 2 epochs: nothing to prune on


def test_no_configuration_is_trained_twice(tmp_path, monkeypatch):
    """A 3-choice space and 6 trials: each config trains once; the search stops when all 3 have."""
    from kopt.tune.run import run_study
    from kopt.tune.running.study import open_storage

    plan = plan_of(
        tmp_path,
        monkeypatch,
        "tuner=random",
        "pruner=none",
        "tuner.n_trials=6",
        "trainer.epochs=1",
        "tuner.retrain_best=false",
        "tuner.plots=false",
        "search.model.width=choice(8, 16, 32)",
    )
    study_dir = tmp_path / "runs" / "tune" / "s"
    summary = run_study(plan, study_dir)
    study = optuna.load_study(study_name="s", storage=open_storage(str(study_dir / "journal.log")))
    trained = sorted((study_dir / "trials").glob("*/summary.json"))
    widths = [study.trials[int(p.parent.name)].params["model.width"] for p in trained]
    assert len(trained) == len(set(widths)) == 3, widths
    for t in study.trials:
        if "duplicate_of" in t.user_attrs:  # a repeat: the earlier result, not a new run
            original = study.trials[t.user_attrs["duplicate_of"]]
            assert t.params == original.params and t.value == original.value
            assert not (study_dir / "trials" / str(t.number)).exists()
    assert summary["duplicates"] == len(study.trials) - 3
    # ... and the search stops as soon as the third config has trained: no repeat is drawn after it
    assert "duplicate_of" not in study.trials[-1].user_attrs
    assert summary["stopped_early"] == "the search space's 3 configurations have all been trained"


def test_kfold_trials_get_the_wilcoxon_pruner_over_their_folds(tmp_path, monkeypatch):
    """Steps count folds for the Wilcoxon pruner (one value per finished fold); it needs 2 paired folds
    (n_startup_steps), and 4 folds all worse than the best trial's (one-sided p = 1/16 < p_threshold=0.1)."""
    from kopt.tune.planning.pruners import build_pruner

    plan = plan_of(
        tmp_path,
        monkeypatch,
        "split=kfold",
        "split.k=3",
        "trainer.epochs=3",
        *(f"search.{k}={v}" for k, v in CATEGORICAL.items()),
    )
    assert plan.pruner["name"] == "wilcoxon" and plan.pruner["n_startup_steps"] == 2
    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        pruner = build_pruner(plan.pruner)
    assert _prunes_at(pruner, steps=5) == 4  # (steps from 1 here)


def _study(tmp_path, monkeypatch, capsys, *overrides):
    """Run study ``s`` in this process; (summary, study, study dir, the lines it printed, trials.csv rows)."""
    import csv

    from kopt.tune.run import run_study
    from kopt.tune.running.study import open_storage

    plan = plan_of(
        tmp_path,
        monkeypatch,
        "tuner=random",
        "pruner=none",
        "trainer.epochs=1",
        "tuner.retrain_best=false",
        "tuner.plots=false",
        *overrides,
    )
    study_dir = tmp_path / "runs" / "tune" / "s"
    capsys.readouterr()
    summary = run_study(plan, study_dir)
    out = capsys.readouterr().out
    study = optuna.load_study(study_name="s", storage=open_storage(str(study_dir / "journal.log")))
    with open(study_dir / "trials.csv") as fh:
        rows = list(csv.DictReader(fh))
    return summary, study, study_dir, out.splitlines(), rows


def test_a_four_trial_study_over_four_choices_trains_each_once_and_shows_its_repeats(tmp_path, monkeypatch, capsys):
    """The random sampler repeats itself over 4 choices: the study still trains the 4 configs (it ended with
    3, the counter at [8/4 done]), its counter never passes n_trials, and the repeats are shown as such:
    trials.csv's duplicate_of, the trial's line, and the final table (which counted them as complete)."""
    summary, study, study_dir, out, rows = _study(
        tmp_path, monkeypatch, capsys, "tuner.n_trials=4", "search.model.width=choice(4, 8, 16, 32)"
    )
    trials = study.get_trials()
    trained = [t for t in trials if "duplicate_of" not in t.user_attrs]
    assert sorted(t.params["model.width"] for t in trained) == [4, 8, 16, 32]
    repeats = [t for t in trials if "duplicate_of" in t.user_attrs]
    assert repeats  # (this seed repeats itself: the point of the test)
    counters = [int(line.split("[", 1)[1].split("/")[0]) for line in out if line.startswith("trial ")]
    assert max(counters) == 4 and all(c <= 4 for c in counters), out
    assert all("/4 done" in line for line in out if line.startswith("trial ")), out
    for t in repeats:
        (line,) = [x for x in out if x.startswith(f"trial {t.number} ")]
        assert f"duplicate of #{t.user_attrs['duplicate_of']}" in line, line
    assert [r["duplicate_of"] for r in rows] == [str(t.user_attrs.get("duplicate_of", "")) for t in trials]
    (table_line,) = [x for x in out if "complete " in x and "fail " in x]
    assert "complete 4 " in table_line and f"duplicates {len(repeats)}" in table_line, table_line
    assert summary["duplicates"] == len(repeats)


def test_repeats_train_again_when_training_is_not_deterministic(tmp_path, monkeypatch, capsys):
    """trainer.deterministic=false: a repeated configuration is trained again, not reused, and a used-up
    finite space does not stop the study (it reused the first result and stopped at 2 trials)."""
    summary, study, study_dir, out, rows = _study(
        tmp_path,
        monkeypatch,
        capsys,
        "trainer.deterministic=false",
        "tuner.n_trials=3",
        "search.model.width=choice(4, 8)",
        "tuner.enqueue=[{model.width:4},{model.width:4}]",
    )
    trials = study.get_trials()
    assert len(trials) == 3 and not any("duplicate_of" in t.user_attrs for t in trials)
    assert [t.params["model.width"] for t in trials[:2]] == [4, 4]
    assert all((study_dir / "trials" / str(t.number) / "summary.json").is_file() for t in trials)
    assert summary["duplicates"] == 0 and summary["counts"]["COMPLETE"] == 3


@pytest.mark.parametrize(
    "backend, devices, flags, cuda, expected",
    [
        ("tensorflow", None, "", None, True),  # TensorFlow's op determinism covers its GPU kernels
        ("jax", ["cpu"], "", None, True),
        ("jax", ["gpu"], "", None, False),  # XLA's GPU kernels, not made deterministic
        ("jax", ["gpu"], "--xla_gpu_deterministic_ops=true", None, True),
        ("torch", None, "", False, True),
        ("torch", None, "", True, False),  # torch's deterministic mode only warns (warn_only)
    ],
)
def test_repeats_are_reused_only_on_deterministic_kernels(monkeypatch, backend, devices, flags, cuda, expected):
    import sys
    import types

    from kopt.tune.trials.dedup import deterministic

    if devices is not None:
        fake = types.SimpleNamespace(devices=lambda: [types.SimpleNamespace(platform=p) for p in devices])
        monkeypatch.setitem(sys.modules, "jax", fake)
    if cuda is not None:
        fake = types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: cuda))
        monkeypatch.setitem(sys.modules, "torch", fake)
    monkeypatch.setenv("XLA_FLAGS", flags)
    assert deterministic({"deterministic": True, "backend": backend}) is expected
    assert deterministic({"deterministic": False, "backend": backend}) is False


FOLDS, EPOCHS = 5, 10


def _simulated_trial(study, plan, offsets: list[float]):
    """Feed a k-fold trial's epochs to kopt's pruning callbacks, as fit does: fold ``f`` learns along one
    curve shared by every trial, plus ``offsets[f]`` at every epoch (so its epochs are autocorrelated).
    Returns the trial, told COMPLETE (the mean of the folds' best epochs), or None when it was pruned."""
    from kopt.tune.running.trial import trial_callbacks

    trial, stopped = study.ask(), {}
    trainer = {"epochs": EPOCHS, "monitor": "val_accuracy", "protocol": "best_epoch"}
    factory = trial_callbacks(plan, trial, trainer, stopped)
    kept = []
    try:
        for fold in range(FOLDS):
            callbacks = factory(fold, FOLDS)
            for epoch in range(EPOCHS):
                value = 0.5 + 0.03 * epoch + 0.01 * fold + offsets[fold]
                for cb in callbacks:
                    cb.on_epoch_end(epoch, {"val_accuracy": value, "val_loss": 1.0 - value})
            kept.append(value)
            for cb in callbacks:
                cb.on_train_end({})
    except optuna.TrialPruned:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return None, stopped
    study.tell(trial, sum(kept) / len(kept))
    return study.trials[trial.number], stopped


def test_the_wilcoxon_pruner_gets_one_value_per_fold_and_spares_near_equal_trials(tmp_path, monkeypatch):
    """10 epochs x 5 folds, pruner=auto (Wilcoxon). Reported every epoch, a trial 0.001 worse at every
    epoch of its first fold was pruned at the end of that fold (10 autocorrelated pairs, p = 0.002).
    One value per fold: an equal trial and a near-equal one (worse on some folds, better on others) run
    to the end; a trial clearly worse on every fold is still pruned, once enough folds are paired."""
    plan = plan_of(
        tmp_path,
        monkeypatch,
        "split=kfold",
        f"split.k={FOLDS}",
        f"trainer.epochs={EPOCHS}",
        *(f"search.{k}={v}" for k, v in CATEGORICAL.items()),
    )
    assert plan.pruner["name"] == "wilcoxon"
    from kopt.tune.planning.pruners import build_pruner

    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        study = optuna.create_study(direction="maximize", pruner=build_pruner(plan.pruner))
    best, _ = _simulated_trial(study, plan, [0.0] * FOLDS)
    # one report per finished fold, at the fold's step, of the fold's kept (best) epoch
    assert best.intermediate_values == {f: pytest.approx(0.5 + 0.03 * 9 + 0.01 * f) for f in range(FOLDS)}
    equal, _ = _simulated_trial(study, plan, [0.0] * FOLDS)
    assert equal is not None and len(equal.intermediate_values) == FOLDS
    near, _ = _simulated_trial(study, plan, [-0.001, -0.001, 0.0005, -0.001, 0.0008])
    assert near is not None and len(near.intermediate_values) == FOLDS
    worse, stopped = _simulated_trial(study, plan, [-0.05] * FOLDS)
    assert worse is None and stopped == {"pruned_epoch": EPOCHS, "pruned_fold": 3, "pruned_step": 3}


def test_the_eta_leaves_out_repeats():
    """Repeats take no time (they are not trained): the trials left are timed at the trained trials'
    mean (it averaged the repeats' 0 s in, and halved the estimate here)."""
    from types import SimpleNamespace

    from kopt.tune.running.ui import TuneUI

    plan = SimpleNamespace(n_trials=4, tuner={"n_workers": 1})
    ui = TuneUI(plan, "study")
    row = {"state": "COMPLETE", "params": {}, "value": 0.5}
    ui.rows = [
        {**row, "number": 0, "duration_s": 10.0},
        {**row, "number": 1, "duration_s": 0.0, "duplicate_of": 0},
        {**row, "number": 2, "duration_s": 10.0},
        {**row, "number": 3, "duration_s": 0.0, "duplicate_of": 2},
    ]
    assert ui.done(ui.rows) == 2
    assert ui.eta(ui.done(ui.rows)) == ", eta 20s"  # 2 trials left at 10 s each


def test_a_sampler_that_keeps_repeating_itself_stops_at_the_cap_and_says_so(tmp_path, monkeypatch, capsys):
    """Repeats cost no training but must end: after max(100, 10 x n_trials) of them the study stops, with
    fewer trained than n_trials, and the final table says why (it stopped after n_trials repeats, counting
    the later ones as trained trials)."""
    cap = 100  # max(100, 10 x n_trials), as docs/tune.md says
    summary, study, study_dir, out, rows = _study(
        tmp_path,
        monkeypatch,
        capsys,
        "tuner.n_trials=2",
        "search.model.width=int(interval(8, 64))",
        f"tuner.enqueue=[{','.join(['{model.width:8}'] * (cap + 5))}]",
    )
    trials = [t for t in study.get_trials() if t.state.name != "WAITING"]  # (4 enqueued ones never ran)
    assert len(trials) == cap + 1 and sum("duplicate_of" not in t.user_attrs for t in trials) == 1
    assert summary["counts"]["COMPLETE"] == 1 and summary["duplicates"] == cap
    reason = f"the sampler drew {cap} configurations already trained; it keeps repeating itself"
    assert summary["stopped_early"] == reason
    assert any("stopped" in line and "the sampler drew" in line for line in out), out
    assert all("/2 done" in line for line in out if line.startswith("trial ")), out


def test_samplers_and_pruners_take_their_typed_schema_objects():
    """Each tuner's and pruner's builder receives its typed schema object (BayesTuner, MedianPruner...),
    as model, dataset and optimizer builders do; build_pruner types a plan's raw node first, and a raw
    node and its typed object give the same pruner."""
    import importlib.util
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from kopt.tune.planning.pruners import PRUNERS, build_pruner
    from kopt.tune.planning.tuners import SAMPLERS
    from kopt.validate import packaged_option, typed_option

    def typed(group, name, **values):
        node = packaged_option(group, name)
        node.merge_with({"study_name": "s"} if group == "tuner" else {}, values)
        return typed_option(group, OmegaConf.to_container(node, resolve=True))

    plan = SimpleNamespace(space=parse_search(CATEGORICAL), n_trials=40)
    tpe = SAMPLERS.get("bayes")(typed("tuner", "bayes", n_startup_trials=7), 3, plan)
    assert type(tpe).__name__ == "TPESampler" and tpe._n_startup_trials == 7 and tpe._n_ei_candidates == 24
    genetic = SAMPLERS.get("genetic")(typed("tuner", "genetic", crossover="undx"), 3, plan)
    assert genetic._population_size == 8  # default_population(40): 40 // 5
    qmc = SAMPLERS.get("qmc")(typed("tuner", "qmc", qmc_type="halton"), 3, plan)
    assert qmc._qmc_type == "halton" and qmc._scramble is True
    assert type(SAMPLERS.get("random")(typed("tuner", "random"), 3, plan)).__name__ == "RandomSampler"
    if importlib.util.find_spec("cmaes") is not None:
        cma = SAMPLERS.get("cmaes")(typed("tuner", "cmaes", popsize=6), 3, plan)
        assert cma._popsize == 6 and cma._n_startup_trials == 1

    median = typed("pruner", "median", n_warmup_steps=2, n_startup_trials=4)
    assert type(median).__name__ == "MedianPruner" and median.n_warmup_steps == 2
    for pruner in (
        PRUNERS.get("median")(median),
        build_pruner(median),
        build_pruner(
            {
                "name": "median",
                "auto": {},
                **{
                    k: getattr(median, k)
                    for k in ("n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials")
                },
            }
        ),
    ):
        assert type(pruner).__name__ == "MedianPruner"
        assert pruner._n_warmup_steps == 3 and pruner._n_startup_trials == 4  # 2 epochs never pruned: step 3
    band = build_pruner(typed("pruner", "hyperband", min_resource=2, max_resource=9))
    assert band._min_resource == 2 and band._max_resource == 9
    wilcoxon = build_pruner(typed("pruner", "wilcoxon", p_threshold=0.05))
    assert wilcoxon._p_threshold == 0.05 and wilcoxon._n_startup_steps == 2


def test_auto_trial0_is_the_configs_own_values(tmp_path, monkeypatch):
    """tuner=auto's first trial is the config kopt train would run: search=cnn_digits at model=cnn's,
    the regularizer's and the optimizer's YAML values; a value the space cannot draw (weight_decay=0.0
    under a log interval) becomes the nearest one it can. The header says so."""
    from kopt.tune.planning.auto import describe, option_defaults

    plan = plan_of(
        tmp_path,
        monkeypatch,
        "model=cnn",
        "search=cnn_digits",
        "search.optimizer.weight_decay=tag(log, interval(1e-5, 1e-3))",
    )
    model, optimizer = option_defaults("model", "cnn"), option_defaults("optimizer", "adam")
    assert model["dense"] == 128 and optimizer["lr"] == 1e-3  # (the header below)
    assert plan.tuner["auto"]["trial0"] == {
        "model.width": 16,  # TINY's model.width=16: an override wins over the YAML
        "model.dense": model["dense"],
        "regularizer.dropout": option_defaults("regularizer", "none")["dropout"],
        "optimizer.lr": optimizer["lr"],
        "optimizer.weight_decay": 1e-5,  # the YAML's 0.0, moved into the space
    }
    assert "trial0" not in plan.tuner  # (not an option of the sampler)
    assert (
        plan.tuner["n_startup_trials"] == plan.tuner["auto"]["n_startup_trials"] == 1 + 5
    )  # trial 0 + min(15, 20 // 4)
    header = describe(plan.tuner, plan.pruner)
    assert header[1] == (
        "tuner=auto: trial 0 = the config's defaults (YAML values and overrides): model.width=16, model.dense=128, "
        "regularizer.dropout=0.0, optimizer.lr=0.001, optimizer.weight_decay=1e-05"
    ), header
    # a given tuner.enqueue is tried first instead; an explicit tuner has no trial 0
    plan = plan_of(tmp_path, monkeypatch, "search.model.width=choice(8, 16)", "search.optimizer.lr=interval(1e-3, 0.1)")
    assert plan.tuner["auto"]["trial0"] == {"model.width": 16, "optimizer.lr": 1e-3}  # TINY's width=16
    space = ("search.model.width=choice(8, 16)", "search.optimizer.lr=interval(1e-3, 0.1)")
    plan = plan_of(tmp_path, monkeypatch, *space, "tuner.enqueue=[{model.width:8}]")
    assert "trial0" not in plan.tuner["auto"] and plan.tuner["n_startup_trials"] == 5  # min(3 x 2, 20 // 4)
    plan = plan_of(tmp_path, monkeypatch, *space, "tuner.n_startup_trials=4")
    assert "trial0" in plan.tuner["auto"] and plan.tuner["n_startup_trials"] == 4  # as set


def test_auto_trial0_is_enqueued_once_per_study(tmp_path, monkeypatch):
    """Trial 0 goes into a new study once: not again when the study is resumed (a second kopt tune on
    it), nor by a worker joining it, nor into a study that already has trials."""
    from kopt.tune.running.study import join_study, start_study

    plan = plan_of(tmp_path, monkeypatch, "search.model.width=choice(8, 16)", "search.optimizer.lr=interval(1e-3, 0.1)")
    study_dir = tmp_path / "runs" / "tune" / "s"
    study, spec, _ = start_study(plan, study_dir)
    (first,) = study.get_trials()
    assert first.state.name == "WAITING" and first.user_attrs == {"auto_trial0": True}
    assert first.system_attrs["fixed_params"] == {"model.width": 16, "optimizer.lr": 1e-3}
    start_study(plan, study_dir)  # resumed
    join_study(spec, "s", study_dir, worker=1)  # a worker
    assert len(study.get_trials()) == 1
    # a study made before trial 0 existed gets none on resume
    old = copy.deepcopy(plan)
    del old.tuner["auto"]["trial0"]
    study, _, _ = start_study(old, tmp_path / "old")
    study.tell(study.ask({"model.width": optuna.distributions.CategoricalDistribution([8, 16])}), 0.5)
    study, _, _ = start_study(plan, tmp_path / "old")
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE"]


def test_auto_trial0_leaves_the_seeds_draws_to_the_trials_after_it(tmp_path, monkeypatch):
    """Trial 0 waits in a new study's queue and draws nothing from the sampler: the trials after it draw
    what ``seed`` draws in a study without it. Before, the waiting trial counted as a trial of an earlier
    run (as on resume) and moved the sampler's seed by 7,919: what benchmarks/tiny_trials.py's
    kopt_default found changed (0.899 -> 0.872 best val accuracy) with the seed's draws."""
    import time

    from kopt.tune.running.study import start_study
    from kopt.tune.trials.claim import claim

    space = ("search.model.width=choice(8, 16, 32)", "search.optimizer.lr=tag(log, interval(1e-4, 1e-1))")
    plan = plan_of(tmp_path, monkeypatch, *space, "tuner.n_trials=8")
    assert plan.tuner["auto"]["trial0"] and plan.tuner["n_startup_trials"] >= 3

    def drawn(plan, study_dir, n):
        study, _, _ = start_study(plan, study_dir)
        out = []
        for _ in range(n):
            trial = claim(study, plan, study_dir, time.time())
            out.append(plan.space.sample(trial)[1])
            study.tell(trial, 0.5)
        return out

    with_trial0 = drawn(plan, tmp_path / "with", 3)
    assert with_trial0[0] == {"model.width": 16, "optimizer.lr": 1e-3}  # the config's own values
    without = copy.deepcopy(plan)
    del without.tuner["auto"]["trial0"]
    assert with_trial0[1:] == drawn(without, tmp_path / "without", 2)


def test_two_kopt_tunes_starting_one_new_study_at_once_enqueue_trial0_once(tmp_path, monkeypatch):
    """Two `kopt tune` started at the same moment on a new study: both find no study, both create it
    (the storage lets one), both look for trials before either adds one. Only the creator enqueues
    trial 0 (before: both did, and the study ran the config's values twice)."""
    import threading

    from kopt.tune.running.study import start_study

    plan = plan_of(tmp_path, monkeypatch, "search.model.width=choice(8, 16)", "search.optimizer.lr=interval(1e-3, 0.1)")
    study_dir = tmp_path / "runs" / "tune" / "s"
    both_looked = threading.Barrier(2, timeout=10)  # both load_study calls fail before either creates
    both_enqueue = threading.Barrier(2, timeout=2)  # an enqueue waits for the other one's, if any
    first_load = threading.local()
    load_study, enqueue_trial = optuna.load_study, optuna.Study.enqueue_trial

    def load_after_the_other(*args, **kwargs):
        if not getattr(first_load, "done", False):
            first_load.done = True
            both_looked.wait()
        return load_study(*args, **kwargs)

    def enqueue_with_the_other(self, *args, **kwargs):
        try:
            both_enqueue.wait()
        except threading.BrokenBarrierError:  # only one enqueues
            pass
        return enqueue_trial(self, *args, **kwargs)

    monkeypatch.setattr(optuna, "load_study", load_after_the_other)
    monkeypatch.setattr(optuna.Study, "enqueue_trial", enqueue_with_the_other)
    errors = []

    def start():
        try:
            start_study(copy.deepcopy(plan), study_dir)
        except BaseException as exc:  # (shown by the assert below)
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    study = load_study(study_name="s", storage=open_storage_of(study_dir))
    waiting = [t for t in study.get_trials() if t.state.name == "WAITING"]
    assert [t.user_attrs for t in waiting] == [{"auto_trial0": True}], [t.params for t in waiting]


def open_storage_of(study_dir):
    from kopt.tune.running.study import open_storage, storage_spec

    return open_storage(storage_spec(None, study_dir))


def test_kopt_tune_says_and_runs_trial0(tmp_path):
    """`kopt tune` (a process of its own) prints trial 0 under the header, and its first trial runs it."""
    from conftest import run_kopt

    from kopt.tune.running.study import open_storage

    proc = run_kopt(
        "tune",
        *TINY,
        "trainer.epochs=1",
        "tuner.n_trials=1",
        "tuner.study_name=s",
        "tuner.retrain_best=false",
        "tuner.plots=false",
        "search.optimizer.lr=tag(log, interval(1e-4, 1e-1))",
        "search.model.width=choice(8, 16, 32)",
        "search.regularizer.dropout=interval(0.0, 0.5)",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = "tuner=auto: trial 0 = the config's defaults (YAML values and overrides): "
    assert line + "optimizer.lr=0.001, model.width=16, regularizer.dropout=0.0" in proc.stdout, proc.stdout
    storage = open_storage(str(tmp_path / "runs" / "tune" / "s" / "journal.log"))
    (trial,) = optuna.load_study(study_name="s", storage=storage).trials
    assert trial.params == {"optimizer.lr": 0.001, "model.width": 16, "regularizer.dropout": 0.0}
