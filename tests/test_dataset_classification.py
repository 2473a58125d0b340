"""dataset=classification, the dataset added with one config file and one module
(configs/dataset/classification.yaml, kopt/data/sources/classification.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import only_run_dir, read_summary, run_kopt

from kopt.compose import compose_job, search_dirs
from kopt.data.datasets import load_dataset
from kopt.errors import KoptError
from kopt.validate import validate_train


def compose(*overrides: str):
    cfg = compose_job("config", ["dataset=classification", "model=mlp", *overrides], search_dirs(None))
    validate_train(cfg)
    return cfg


def test_generated_from_random_state_not_from_the_run_seed():
    cfg = compose("dataset.size=120", "dataset.features=6", "dataset.informative=3", "dataset.classes=4")
    a, b = load_dataset(cfg.dataset, seed=0), load_dataset(cfg.dataset, seed=1)
    assert a.x.shape == (120, 6) and a.kind == "tabular" and a.num_classes == 4
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    other = load_dataset(
        compose(
            "dataset.size=120",
            "dataset.features=6",
            "dataset.informative=3",
            "dataset.classes=4",
            "dataset.random_state=1",
        ).dataset,
        seed=0,
    )
    assert not np.array_equal(a.x, other.x)


@pytest.mark.parametrize(
    "overrides, needle",
    [
        (["dataset.informative=8", "dataset.features=4"], "dataset.informative=8 with dataset.features=4"),
        (["dataset.classes=9", "dataset.informative=3"], "classes <= 2^informative (8)"),
        (["dataset.class_sep=0"], "dataset.class_sep=0"),
        (["model=cnn"], "model=cnn needs image input"),  # its "tabular" fact, stated with it
        (["augment=standard"], "augment=standard transforms images"),
    ],
)
def test_bad_settings_cost_one_line_before_tensorflow(overrides, needle):
    with pytest.raises(KoptError, match=needle.replace("^", r"\^").replace("(", r"\(").replace(")", r"\)")):
        compose(*overrides)


def test_models_reads_its_input_signature_without_loading():
    from kopt.commands.models import input_signature

    cfg = compose("dataset.features=7", "dataset.classes=5")
    assert input_signature(cfg.dataset, seed=0) == ((7,), 5)


def test_trains_end_to_end(workdir):
    proc = run_kopt(
        "train",
        "dataset=classification",
        "dataset.size=200",
        "dataset.features=8",
        "model=mlp",
        "model.width=8",
        "model.depth=1",
        "trainer.epochs=1",
        "trainer.batch_size=32",
        cwd=workdir,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = read_summary(only_run_dir(workdir))
    assert summary["status"] == "completed"
    assert summary["data"]["input_shape"] == [8] and summary["data"]["classes"] == 3


def test_unknown_key_is_refused():
    with pytest.raises(KoptError, match=r"^dataset.n_samples: unknown key; allowed: name, task, size, features"):
        compose("+dataset.n_samples=100")
