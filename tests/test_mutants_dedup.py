"""kopt.tune.trials.dedup pinned on plain trial records, no study run (`make mutants`)."""

from __future__ import annotations

from types import SimpleNamespace

from kopt.tune.trials import dedup


def trial(number, params, state="COMPLETE", **attrs):
    return SimpleNamespace(number=number, params=params, state=SimpleNamespace(name=state), user_attrs=attrs)


def test_config_key_sorts_and_rounds_floats_only():
    assert dedup.config_key({"b": 0.1 + 0.2, "a": 3, "c": "x"}) == (("a", 3), ("b", 0.3), ("c", "x"))
    assert dedup.config_key({"lr": 1e-13}) == (("lr", 0.0),)  # 12 decimals: 1e-13 is 0
    assert dedup.config_key({"lr": 1.5e-12}) == (("lr", 2e-12),)
    assert dedup.config_key({"n": 10**15 + 1}) == (("n", 10**15 + 1),)  # integers are kept whole
    assert dedup.config_key({}) == ()


def test_originals_keep_the_first_finished_trial_that_trained():
    trials = [
        trial(0, {"a": 1}, "FAIL"),
        trial(1, {"a": 1}, "RUNNING"),
        trial(2, {"a": 1}, "PRUNED"),
        trial(3, {"a": 1}),
        trial(4, {"a": 2}, duplicate_of=9),
        trial(5, {"a": 2}),
        trial(6, {"a": 3}, "WAITING"),
    ]
    found = dedup.originals(trials)
    assert {k: t.number for k, t in found.items()} == {(("a", 1),): 2, (("a", 2),): 5}
    assert dedup.FINISHED == ("COMPLETE", "PRUNED") and dedup.DUPLICATE == "duplicate_of"


def test_find_duplicate_skips_the_trial_itself():
    trials = [trial(0, {"a": 1}), trial(1, {"a": 2}), trial(2, {"a": 1}, "RUNNING")]
    study = SimpleNamespace(get_trials=lambda deepcopy: trials)
    for t in trials:
        t.study = study
    assert dedup.find_duplicate(trials[2]).number == 0
    assert dedup.find_duplicate(trials[0]) is None  # itself does not count, trial 2 has not finished
    assert dedup.find_duplicate(trials[1]) is None


def test_find_duplicate_of_a_trial_equal_to_a_later_finished_one():
    trials = [trial(0, {"a": 1}, "RUNNING"), trial(1, {"a": 1})]
    study = SimpleNamespace(get_trials=lambda deepcopy: trials)
    for t in trials:
        t.study = study
    assert dedup.find_duplicate(trials[0]).number == 1


def test_reused_attrs_copy_the_run_dir_and_the_epochs_that_are_set():
    original = trial(4, {}, run_dir="runs/t/4", best_epoch=3, pruned_epoch=None, pruned_fold=1, pruned_step=0)
    assert dedup.reused_attrs(original) == {
        "duplicate_of": 4,
        "run_dir": "runs/t/4",
        "best_epoch": 3,
        "pruned_fold": 1,
        "pruned_step": 0,
    }
    assert dedup.reused_attrs(trial(0, {}, pruned_epoch=2)) == {"duplicate_of": 0, "run_dir": None, "pruned_epoch": 2}


def test_duplicate_count():
    assert (
        dedup.duplicate_count([trial(0, {}), trial(1, {}, duplicate_of=0), trial(2, {}, "FAIL", duplicate_of=0)]) == 2
    )
    assert dedup.duplicate_count([]) == 0


def test_discount_duplicates_takes_off_every_finished_repeat():
    """Repeats never count towards n_trials: each finished repeat comes off its state's count."""
    trials = [
        trial(0, {}),
        trial(1, {}, duplicate_of=0),
        trial(2, {}, "FAIL", duplicate_of=0),
        trial(3, {}, "PRUNED", duplicate_of=0),
        trial(4, {}, duplicate_of=0),
        trial(5, {}, "RUNNING", duplicate_of=0),
    ]
    counts = {"COMPLETE": 3, "PRUNED": 1, "FAIL": 1}
    assert dedup.discount_duplicates(counts, trials) == {"COMPLETE": 1, "PRUNED": 0, "FAIL": 0}
    assert dedup.discount_duplicates(counts, trials[:1]) == counts
    assert counts == {"COMPLETE": 3, "PRUNED": 1, "FAIL": 1}  # the caller's dict is left alone


def space(*params, conditional=False):
    return SimpleNamespace(params=list(params), conditional=conditional)


def choice(name, n):
    return SimpleNamespace(
        name=name, dist=SimpleNamespace(kind="choice", step=None, grid_values=lambda _: list(range(n)))
    )


def test_space_exhausted_counts_distinct_finished_configurations():
    bases = {"base": {"trainer": {"deterministic": True}}}
    plan = SimpleNamespace(grid_size=None, space=space(choice("a", 2)), bases=bases)
    one = [trial(0, {"a": 0})]
    both = [*one, trial(1, {"a": 1})]
    assert dedup.space_exhausted(plan, one) is False
    assert dedup.space_exhausted(plan, both) is True
    assert dedup.space_exhausted(plan, [*both, trial(2, {"a": 1})]) is True
    assert dedup.space_exhausted(SimpleNamespace(grid_size=2, space=plan.space, bases=bases), both) is False  # grid
    assert (
        dedup.space_exhausted(SimpleNamespace(grid_size=None, space=space(conditional=True), bases=bases), both)
        is False
    )
    random = {"base": {"trainer": {"deterministic": False}}}  # repeats train again: the space never runs out
    assert dedup.space_exhausted(SimpleNamespace(grid_size=None, space=plan.space, bases=random), both) is False
