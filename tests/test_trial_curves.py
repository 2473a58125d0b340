"""Issue 30, item 3: a study's end draws every trial's curves.png on one reused matplotlib Figure,
each layout shape computed once, and each file holds the same pixels as a figure drawn alone
(:func:`kopt.training.curves.plot_curves`). No TensorFlow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def fake_trial(study_dir: Path, n: int, folds: int = 1, epochs: int = 5, accuracy: bool = True) -> Path:
    run_dir = study_dir / "trials" / str(n)
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text("seed: 0\nmodel:\n  name: mlp\n")
    rows = [
        {
            "fold": f,
            "epoch": e,
            "loss": (1.0 + 0.1 * n) / e,
            "val_loss": (1.1 + 0.1 * n) / e,
            **({"accuracy": 0.5 + 0.01 * e + 0.001 * n, "val_accuracy": 0.5 + 0.01 * e - 0.01 * f} if accuracy else {}),
        }
        for f in range(folds)
        for e in range(1, epochs + 1)
    ]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_dir


def test_a_study_end_draws_every_trials_curves_on_one_figure(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from kopt.tune.results.curves import draw_trial_curves

    made, saved = [], []
    init, savefig = Figure.__init__, Figure.savefig

    def counting_init(self, *args, **kwargs):
        made.append(self)
        init(self, *args, **kwargs)

    def recording_savefig(self, *args, **kwargs):
        saved.append([(ax.get_title(), ax.get_xlabel(), len(ax.get_lines())) for ax in self.axes])
        return savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "__init__", counting_init)
    monkeypatch.setattr(Figure, "savefig", recording_savefig)
    for n in range(6):
        fake_trial(tmp_path, n, folds=2 if n == 3 else 1)
    drawn = draw_trial_curves(tmp_path)
    assert sorted(drawn) == list(range(6))
    assert len(made) == 1, f"{len(made)} Figures for 6 trials"
    for n, png in drawn.items():
        assert Image.open(png).size == (1000, 400)  # CURVES_SIZE at 100 dpi
        lines = 4 if n == 3 else 2  # train and val, per fold
        assert saved[n] == [("loss", "epoch", lines), ("accuracy", "epoch", lines)]


def test_each_reused_figure_has_the_pixels_of_a_figure_drawn_alone(tmp_path):
    from kopt.training.curves import CurvesDrawer, plot_curves

    trials = [
        fake_trial(tmp_path, 0),
        fake_trial(tmp_path, 1),  # the shape of trial 0: its layout is reused
        fake_trial(tmp_path, 2, folds=3, epochs=7),
        fake_trial(tmp_path, 3, epochs=1),  # one epoch: markers, a fixed range
        fake_trial(tmp_path, 4, accuracy=False),  # a notice in place of the accuracy plot
        fake_trial(tmp_path, 5, epochs=40),
        fake_trial(tmp_path, 6),
    ]
    drawer = CurvesDrawer()
    for i, run_dir in enumerate(trials):
        title = f"trial {i} " + "x " * {2: 40, 5: 80}.get(i, 0)  # one to three title lines
        plot_curves(run_dir, title=title)
        alone = np.asarray(Image.open(run_dir / "curves.png"))
        drawer.plot(run_dir, title=title)
        reused = np.asarray(Image.open(run_dir / "curves.png"))
        assert alone.shape == reused.shape == (400, 1000, 4)
        assert (alone == reused).all(), f"trial {i}: {(alone != reused).any(axis=2).sum()} pixels differ"
    assert len(drawer.layouts) < len(trials)  # some layout was reused
