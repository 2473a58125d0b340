"""The PNGs kopt writes, read through the matplotlib Figures they are drawn from (no pixels, no
TensorFlow): integer epoch ticks, legends beside the lines, failed and pruned runs marked,
defaults named by their value, the study plots' metric name, parallel coordinates, importances."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from test_report import fake_run


@pytest.fixture
def figures(monkeypatch) -> list:
    """Every matplotlib Figure saved while the test runs, in order."""
    from matplotlib.figure import Figure

    saved = []
    original = Figure.savefig

    def savefig(self, *args, **kwargs):
        saved.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return saved


def visible_ticks(ax, axis: str = "x") -> list[float]:
    ax.figure.canvas.draw()
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    ticks = ax.get_xticks() if axis == "x" else ax.get_yticks()
    return [t for t in ticks if lo - 1e-9 <= t <= hi + 1e-9]


def overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def legend_clear_of_axes(fig) -> None:
    """Every legend lies outside every axes' plotting area (it covers no line)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            assert not overlaps(box, ax.get_window_extent(renderer)), [t.get_text() for t in legend.get_texts()]


def write_metrics(run_dir: Path, folds: int, epochs: int) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "fold": f,
            "epoch": e,
            "loss": 1.0 / e,
            "accuracy": 0.5 + 0.01 * e,
            "val_loss": 1.1 / e,
            "val_accuracy": 0.5 + 0.01 * e - 0.01 * f,
        }
        for f in range(folds)
        for e in range(1, epochs + 1)
    ]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("folds, epochs", [(1, 1), (1, 3), (3, 7)])
def test_curves_have_integer_epoch_ticks_and_a_legend_beside_them(tmp_path, figures, folds, epochs):
    from kopt.report.plots import plot_curves

    write_metrics(tmp_path, folds, epochs)
    assert plot_curves(tmp_path, title="t") == tmp_path / "curves.png"
    (fig,) = figures
    for ax in fig.axes:
        assert ax.get_xlabel() == "epoch"
        ticks = visible_ticks(ax)
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        assert 1 in ticks
    legend_clear_of_axes(fig)


@pytest.fixture
def runs_with_a_default(tmp_path: Path) -> Path:
    """Three runs: model.width=8, model.width left at its default (128), and a failed one."""
    runs = tmp_path / "runs"
    config = {"seed": 0, "model": {"name": "mlp", "width": 128, "depth": 2}}
    for name, overrides, status in (
        ("a", ["model.width=8"], "completed"),
        ("b", [], "completed"),
        ("c", ["optimizer.lr=1e30"], "failed"),
    ):
        run = fake_run(
            runs / name,
            status=status,
            overrides=overrides,
            metrics={"val_accuracy": 0.5},
            epochs=4 if status == "completed" else 2,
        )
        cfg = json.loads(json.dumps(config))
        for override in overrides:
            key, value = override.split("=")
            if key == "model.width":
                cfg["model"]["width"] = int(value)
        (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def test_report_png_names_defaults_by_value_marks_failed_runs_and_keeps_legends_off_the_lines(
    runs_with_a_default, figures, monkeypatch
):
    from kopt.commands.report import main

    monkeypatch.chdir(runs_with_a_default)
    main(["runs", "--plot", "r.png", "--group-by", "model.width"])
    assert (runs_with_a_default / "r.png").stat().st_size > 1000
    (fig,) = figures
    curves, bars = fig.axes[:2]
    labels = [t.get_text() for t in curves.get_legend().get_texts()]
    assert len(labels) == 3 and not any("None" in text for text in labels), labels
    assert sum("model.width=128" in text for text in labels) == 2  # b's default and c's (failed) run
    (failed,) = [text for text in labels if "1e30" in text]
    assert "failed" in failed
    line = next(ln for ln in curves.get_lines() if ln.get_label() == failed)
    assert line.get_marker() not in (None, "None", "") and line.get_linestyle() != "-"
    ticks = [t.get_text() for t in bars.get_xticklabels()]
    assert ticks and not any("None" in t for t in ticks) and any(t.startswith("128") for t in ticks), ticks
    for ax in (curves,):
        assert all(float(t).is_integer() for t in visible_ticks(ax))
    legend_clear_of_axes(fig)


def test_run_record_value_falls_back_to_the_composed_config(runs_with_a_default):
    from kopt.report.collect import read_record as load_run

    a, b = (load_run(runs_with_a_default / "runs" / n) for n in "ab")
    assert (a.value("model.width"), b.value("model.width")) == ("8", "128")
    assert b.value("model") == "mlp" and b.value("split.k") is None and b.value("model.width.x") is None


class Plan:
    """What write_plots reads of a TunePlan."""

    metric, direction, pruner_name = "val_accuracy", "maximize", "median"


def fake_study(n_trials: int, pruned=(5,), failed=(3,)):
    """An in-memory study of a made-up objective: no TensorFlow, a few milliseconds."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial):
        lr = trial.suggest_float("optimizer.lr", 1e-4, 1e-1, log=True)
        width = trial.suggest_categorical("model.width", [8, 16, 32])
        depth = trial.suggest_int("model.depth", 1, 3)
        if trial.number in failed:
            raise RuntimeError("NaN/inf loss")
        value = 0.0
        for step in range(3):
            value = 0.4 - 0.05 * math.log10(lr) + 0.002 * width + 0.01 * depth + 0.05 * step
            trial.report(value, step)
            if trial.number in pruned and step == 1:
                raise optuna.TrialPruned()
        return value

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(objective, n_trials=n_trials, catch=(RuntimeError,))
    return study


def test_study_plots_name_the_metric_mark_pruned_and_failed_and_show_every_line(tmp_path, figures):
    from kopt.tune.results.report import write_plots

    study = fake_study(7)
    done = write_plots(tmp_path, study, Plan)
    assert set(done) == {
        "optimization_history.png",
        "param_importances.png",
        "parallel_coordinate.png",
        "intermediate_values.png",
    }
    # importances: from 2 completed trials (the study has 5), the count in the title
    assert done["param_importances.png"] == "ok"
    history, importances, parallel, intermediate = (f.axes[0] for f in figures)
    assert len(importances.patches) == 3
    assert "(5 completed trials)" in importances.get_title()

    assert history.get_ylabel() == "val_accuracy"
    assert all(float(t).is_integer() for t in visible_ticks(history))
    marks = [t.get_text() for t in history.get_legend().get_texts()]
    assert any("pruned" in t for t in marks) and any("failed" in t for t in marks), marks
    assert intermediate.get_ylabel() == "val_accuracy"
    assert all(float(t).is_integer() for t in visible_ticks(intermediate))

    # parallel coordinates: one opaque-enough line per completed trial, the best drawn last
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    lines = [ln for ln in parallel.get_lines() if len(ln.get_xdata()) == 4]  # 3 params + the metric
    assert len(lines) == len(complete)
    assert all(ln.get_alpha() is None or ln.get_alpha() >= 0.5 for ln in lines)
    assert all(ln.get_linewidth() >= 1.0 for ln in lines)
    top = max(lines, key=lambda ln: ln.get_zorder())
    assert top.get_ydata()[-1] == pytest.approx(1.0)  # the metric axis runs from worst (0) to best (1)
    assert "val_accuracy" in [t.get_text() for t in parallel.get_xticklabels()]


def test_importances_are_drawn_once_enough_trials_completed(tmp_path, figures):
    from kopt.tune.results.plots import MIN_IMPORTANCE_TRIALS
    from kopt.tune.results.report import write_plots

    study = fake_study(MIN_IMPORTANCE_TRIALS + 2, pruned=(), failed=(1,))
    assert write_plots(tmp_path, study, Plan)["param_importances.png"] == "ok"
    importances = figures[1].axes[0]
    assert len(importances.patches) == 3  # one bar per parameter
    assert "val_accuracy" in importances.get_xlabel()


@pytest.mark.parametrize("direction, values", [("maximize", [1.0, 0.5, 1.0]), ("minimize", [0.2, 0.5, 0.2])])
def test_parallel_coordinates_draw_optunas_best_trial_on_top_among_ties(direction, values):
    import optuna
    from optuna.distributions import FloatDistribution

    from kopt.tune.results.plots import parallel_figure

    study = optuna.create_study(direction=direction)
    dist = {"optimizer.lr": FloatDistribution(1e-4, 1e-1, log=True)}
    for i, value in enumerate(values):
        study.add_trial(
            optuna.trial.create_trial(params={"optimizer.lr": 10 ** -(i + 1)}, distributions=dist, value=value)
        )
    ax = parallel_figure(study.trials, "val_loss", direction).axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"best: trial {study.best_trial.number}"]
