"""Issue 29, item 3: every PNG kopt draws stays readable with real parameter names: a study of 12
parameters with long float values gives rounded labels (4 significant digits), legends that
leave each axes its room, no matplotlib warning; importances from 2 completed trials; a
one-epoch curve drawn as a marker on an axis of sensible range. No TensorFlow."""

from __future__ import annotations

import re
import warnings

import pytest

PARAMS = [f"regularizer.param_number_{i}" for i in range(12)]
LONG_FLOAT = re.compile(r"\d\.\d{5,}")  # more than 4 significant digits


def study_of_12_params(n_trials: int = 8, pruned=(2,)):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        xs = [trial.suggest_float(name, 1e-5, 0.9) for name in PARAMS]
        value = 0.0
        for step in range(3):
            value = 0.5 + 0.04 * step + 0.1 * xs[0] - 0.05 * xs[3]
            trial.report(value, step)
            if trial.number in pruned and step == 1:
                raise optuna.TrialPruned()
        return value

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=3))
    study.optimize(objective, n_trials=n_trials)
    return study


def drawn_cleanly(make):
    """The figure ``make()`` returns, drawn and saved with every warning an error."""
    import io

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = make()
        fig = fig[0] if isinstance(fig, tuple) else fig
        fig.canvas.draw()
        fig.savefig(io.BytesIO(), format="png")
    return fig


def assert_roomy(fig, min_inches: float = 2.0) -> None:
    """Every axes that plots something (not a colorbar) keeps at least ``min_inches`` each way."""
    width, height = fig.get_size_inches()
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        box = ax.get_position()
        assert box.width * width >= min_inches, (ax.get_title(), box.width * width)
        assert box.height * height >= min_inches, (ax.get_title(), box.height * height)


def texts_of(fig) -> list[str]:
    out = []
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()]
        out += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        out += [t.get_text() for t in ax.texts]
    return out


def test_study_plots_of_12_long_float_parameters_keep_their_room_and_warn_nothing():
    from kopt.tune.results import plots

    study = study_of_12_params()
    trials = study.trials
    for make in (
        lambda: plots.history_figure(trials, "val_accuracy"),
        lambda: plots.intermediate_figure(trials, "val_accuracy"),
        lambda: plots.parallel_figure(trials, "val_accuracy"),
        lambda: plots.importance_figure(study, trials, "val_accuracy"),
    ):
        fig = drawn_cleanly(make)
        assert_roomy(fig)
        long = [t for t in texts_of(fig) if LONG_FLOAT.search(t)]
        assert not long, long


def no_overlap(fig, labels) -> None:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in labels if t.get_text()]
    for a, b in zip(boxes, boxes[1:]):
        assert a.x1 <= b.x0 or a.y1 <= b.y0 or b.y1 <= a.y0, ("labels overlap", a, b)


def test_parallel_coordinates_name_12_parameters_without_overlap():
    from kopt.tune.results import plots

    study = study_of_12_params()
    fig = drawn_cleanly(lambda: plots.parallel_figure(study.trials, "val_accuracy"))
    ax = fig.axes[0]
    no_overlap(fig, ax.get_xticklabels())
    names = [t.get_text().replace("\n", "") for t in ax.get_xticklabels()]
    assert names == [*sorted(PARAMS), "val_accuracy"]


def test_importances_from_two_completed_trials_with_the_count_in_the_title():
    from kopt.tune.results import plots

    assert plots.MIN_IMPORTANCE_TRIALS == 2
    study = study_of_12_params(n_trials=2, pruned=())
    fig, why = drawn_cleanly(lambda: plots.importance_figure(study, study.trials, "val_accuracy")), None
    (ax,) = fig.axes
    assert len(ax.patches) == 12
    assert "(2 completed trials)" in ax.get_title()
    one = study_of_12_params(n_trials=1, pruned=())
    fig, why = plots.importance_figure(one, one.trials, "val_accuracy")
    assert why == "needs at least 2 completed trials, the study has 1"


def test_comparison_of_runs_with_12_long_float_parameters_is_rounded_and_roomy():
    from kopt.report.plots import comparison_figure

    rows = [{"fold": 0, "epoch": e, "val_accuracy": 0.5 + 0.01 * e} for e in (1, 2, 3)]
    curves, bars = [], []
    for run in range(8):
        label = " ".join(f"{name}={0.21879360563134626 + run / 7:.17g}" for name in PARAMS)
        curves.append((label, rows, "completed" if run else "failed"))
        bars.append((f"{0.21879360563134626 + run / 7} {0.5 + run / 3}", 0.6, 0.01, 2, run % 2))
    fig = drawn_cleanly(lambda: comparison_figure(curves, bars, title="kopt report: 8 run(s)"))
    assert_roomy(fig, min_inches=3.0)
    texts = texts_of(fig)
    assert not [t for t in texts if LONG_FLOAT.search(t)]
    assert any("regularizer.param_number_0=0.2188" in t for t in texts), texts[:3]
    no_overlap(fig, fig.axes[1].get_xticklabels())  # the bar labels


def test_a_one_epoch_curve_is_a_marker_on_an_axis_of_sensible_range(tmp_path):
    from kopt.training.curves import curves_figure

    rows = [{"fold": 0, "epoch": 1, "loss": 0.6931, "accuracy": 0.5012, "val_loss": 0.6929, "val_accuracy": 0.5}]
    fig = drawn_cleanly(lambda: curves_figure(rows, "x " * 80))
    assert_roomy(fig)
    loss, accuracy = fig.axes
    for ax in (loss, accuracy):
        lo, hi = ax.get_ylim()
        assert hi - lo >= 0.1, (ax.get_title(), lo, hi)
        for line in ax.get_lines():
            assert line.get_marker() not in (None, "None", "", ".", ","), line.get_marker()
            assert line.get_markersize() >= 5
    assert accuracy.get_ylim() == pytest.approx((0.0, 1.0))


def test_a_run_of_many_epochs_keeps_its_own_zoom(tmp_path):
    from kopt.training.curves import curves_figure

    rows = [
        {"fold": 0, "epoch": e, "loss": 1 / e, "accuracy": 0.9 + e / 1000, "val_loss": 1 / e, "val_accuracy": 0.9}
        for e in range(1, 11)
    ]
    fig = drawn_cleanly(lambda: curves_figure(rows, "t"))
    lo, hi = fig.axes[1].get_ylim()
    assert lo > 0.5  # a narrow band of accuracies is not flattened onto 0..1


def test_kopt_report_plot_labels_runs_by_rounded_values(tmp_path, monkeypatch):
    """The comparison's labels come from kopt report's own run labels."""
    from matplotlib.figure import Figure
    from test_report import fake_run

    from kopt.commands.report import main

    saved = []
    original = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (saved.append(self), original(self, *a, **k))[1])

    for i in range(3):
        fake_run(
            tmp_path / "runs" / str(i),
            overrides=[f"regularizer.dropout={0.21879360563134626 + i / 10!r}", "trainer.epochs=2"],
            metrics={"val_accuracy": 0.5 + i / 10},
        )
    out = tmp_path / "report.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        main([str(tmp_path / "runs"), "--plot", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (fig,) = saved
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == [f"regularizer.dropout={v}" for v in ("0.2188", "0.3188", "0.4188")]
