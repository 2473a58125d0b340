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


def test_find_duplicate_reads_the_trials_without_copying_them():
    calls = []
    trials = [trial(0, {"a": 1}), trial(1, {"a": 1}, "RUNNING")]

    def get_trials(deepcopy):
        calls.append(deepcopy)
        return trials

    trials[1].study = SimpleNamespace(get_trials=get_trials)
    assert dedup.find_duplicate(trials[1]) is trials[0]
    assert calls == [False]


def test_repeat_cap_is_ten_per_trial_and_at_least_a_hundred():
    assert [dedup.repeat_cap(n) for n in (0, 1, 9, 10, 11, 25)] == [100, 100, 100, 100, 110, 250]


def test_deterministic_unless_the_trainer_says_otherwise(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert dedup.deterministic({}) is True
    assert dedup.deterministic({"backend": "tensorflow"}) is True
    assert dedup.deterministic({"deterministic": False}) is False
    assert dedup.deterministic({"deterministic": None}) is False


def jax_with(*platforms, fails=False):
    def devices():
        if fails:
            raise RuntimeError("no backend")
        return [SimpleNamespace(platform=p) for p in platforms]

    return SimpleNamespace(devices=devices)


def torch_with(cuda=None, fails=False):
    def is_available():
        if fails:
            raise RuntimeError("driver")
        return cuda

    return SimpleNamespace(cuda=SimpleNamespace(is_available=is_available))


def test_gpu_nondeterministic_asks_only_the_backend_in_use(monkeypatch):
    import sys

    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.setitem(sys.modules, "jax", jax_with("cpu", "gpu"))
    monkeypatch.setitem(sys.modules, "torch", torch_with(cuda=1))
    assert dedup.gpu_nondeterministic("jax") is True
    assert dedup.gpu_nondeterministic("torch") is True
    assert dedup.gpu_nondeterministic("tensorflow") is False  # op determinism covers TF's GPU kernels
    monkeypatch.setitem(sys.modules, "jax", jax_with("cpu"))
    monkeypatch.setitem(sys.modules, "torch", torch_with(cuda=0))
    assert dedup.gpu_nondeterministic("jax") is False  # XLA_FLAGS unset: the CPU alone
    assert dedup.gpu_nondeterministic("torch") is False
    monkeypatch.setitem(sys.modules, "jax", jax_with(fails=True))
    monkeypatch.setitem(sys.modules, "torch", torch_with(fails=True))
    assert dedup.gpu_nondeterministic("jax") is False  # a backend that cannot say: not known to be a GPU
    assert dedup.gpu_nondeterministic("torch") is False
    monkeypatch.setitem(sys.modules, "jax", jax_with("gpu"))
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2 --xla_gpu_deterministic_ops=true")
    assert dedup.gpu_nondeterministic("jax") is False
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    assert dedup.gpu_nondeterministic("jax") is True
    monkeypatch.delitem(sys.modules, "jax")  # never imported here: not asked
    monkeypatch.delitem(sys.modules, "torch")
    assert dedup.gpu_nondeterministic("jax") is False
    assert dedup.gpu_nondeterministic("torch") is False
    assert "jax" not in sys.modules and "torch" not in sys.modules


def test_a_trainer_on_a_nondeterministic_gpu_trains_repeats_again(monkeypatch):
    import sys

    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.setitem(sys.modules, "jax", jax_with("gpu"))
    assert dedup.deterministic({"backend": "jax"}) is False
    assert dedup.deterministic({"backend": "tensorflow"}) is True


def test_stop_reason_names_why_fewer_trials_trained(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    bases = {"base": {"trainer": {"deterministic": True}}}
    plan = SimpleNamespace(n_trials=3, grid_size=None, space=space(choice("a", 2)), bases=bases)
    both = [trial(0, {"a": 0}), trial(1, {"a": 1}, "PRUNED")]
    assert dedup.stop_reason(plan, both) == "the search space's 2 configurations have all been trained"
    assert dedup.stop_reason(plan, both[:1]) is None  # neither cause: the study ended for another reason
    plan.n_trials = 2
    assert dedup.stop_reason(plan, both) is None  # all trained
    plan.n_trials, plan.space = 3, space(choice("a", 50))
    repeats = [trial(i, {"a": 0}, duplicate_of=0) for i in range(2, 101)]
    assert dedup.stop_reason(plan, [*both, *repeats]) is None  # 99 repeats: under the cap of 100
    repeats.append(trial(101, {"a": 1}, "PRUNED", duplicate_of=1))
    assert dedup.stop_reason(plan, [*both, *repeats]) == (
        "the sampler drew 100 configurations already trained; it keeps repeating itself"
    )
    # a failed trial or a repeat does not count as trained
    plan.n_trials, plan.space = 2, space(choice("a", 2))
    assert dedup.stop_reason(plan, [trial(0, {"a": 0}), trial(1, {"a": 1}, duplicate_of=0)]) is None
    assert dedup.stop_reason(plan, [trial(0, {"a": 0}), trial(1, {"a": 1}, "FAIL")]) is None
