"""One source for each option: every default is written once, in configs/; facts live with the option.

The schema dataclasses hold types and ranges only (docs/architecture.md, "Options: one source
each"), so a default restated in a dataclass, or a key an option's YAML forgets, fails here.
Static checks: the YAML files are read with OmegaConf, not composed by Hydra (fast).
"""

from __future__ import annotations

import dataclasses

import pytest
from omegaconf import OmegaConf

from kopt.errors import KoptError
from kopt.paths import config_dir
from kopt.registry import Registry
from kopt.schemas import SCHEMAS, registry
from kopt.validate import packaged_option, validate_group


def _schema_classes():
    seen = []
    for options in registry().values():
        for cls in options.values():
            stack = [cls]
            while stack:
                c = stack.pop()
                if c not in seen:
                    seen.append(c)
                    stack += [f.type for f in dataclasses.fields(c) if dataclasses.is_dataclass(f.type)]
    return seen


def test_schema_dataclasses_restate_no_default():
    restated = [
        f"{cls.__name__}.{f.name}"
        for cls in _schema_classes()
        for f in dataclasses.fields(cls)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    ]
    assert not restated, f"defaults belong in configs/*.yaml, not in the schema: {restated}"


def _keys(cls, prefix: str = "") -> set[str]:
    out = set()
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(f.type):
            out |= _keys(f.type, f"{prefix}{f.name}.")
        else:
            out.add(prefix + f.name)
    return out


def _yaml_keys(node, prefix: str = "") -> set[str]:
    out = set()
    for key, value in node.items_ex(resolve=False):
        if OmegaConf.is_dict(value) and value:
            out |= _yaml_keys(value, f"{prefix}{key}.")
        else:
            out.add(prefix + str(key))
    return out


OPTION_FILES = sorted(
    (p.parent.name, p.stem)
    for p in config_dir().glob("*/*.yaml")
    if p.parent.name in SCHEMAS and p.parent.name != "root"
)


@pytest.mark.parametrize("group,option", OPTION_FILES, ids=[f"{g}={o}" for g, o in OPTION_FILES])
def test_every_option_yaml_sets_exactly_its_schema_fields(group, option):
    node = packaged_option(group, option)
    cls = registry()[group].get(str(node.get("name")))
    assert cls is not None, f"configs/{group}/{option}.yaml: name={node.get('name')} has no schema"
    assert _yaml_keys(node) == _keys(cls), f"configs/{group}/{option}.yaml and {cls.__name__} differ"


def test_top_level_keys_have_their_default_in_config_yaml():
    root = OmegaConf.load(config_dir() / "config.yaml")
    assert _keys(registry()["root"]["train"]) <= set(root.keys())


def test_a_config_saved_before_a_key_existed_takes_the_packaged_value():
    """Runs and studies written before `optimizer.momentum` was in adam.yaml still resume."""
    node = OmegaConf.load(config_dir() / "optimizer" / "adam.yaml")
    del node["momentum"], node["nesterov"]
    typed = validate_group(OmegaConf.create({"optimizer": node}), "optimizer")
    assert (typed.momentum, typed.nesterov) == (0.9, False)


def test_an_option_file_of_ones_own_takes_what_it_omits_from_configs():
    node = OmegaConf.create({"name": "cnn", "width": 8})  # e.g. --config-dir DIR with DIR/model/my_cnn.yaml
    typed = validate_group(OmegaConf.create({"model": node}), "model")
    assert (typed.width, typed.dense) == (8, OmegaConf.load(config_dir() / "model" / "cnn.yaml").dense)


# --- facts live with their option ------------------------------------------------------------------


def test_every_option_states_the_facts_its_checks_read():
    from kopt.data.augment import RECIPES
    from kopt.data.datasets import LOADERS
    from kopt.models import MODELS

    datasets, augments, models = SCHEMAS["dataset"], SCHEMAS["augment"], SCHEMAS["model"]
    assert set(datasets) == set(LOADERS) and set(augments) == set(RECIPES) and set(models) == set(MODELS)
    assert [n for n in datasets if "kind" not in datasets.facts(n)] == []
    assert [n for n in augments if "needs" not in augments.facts(n)] == []
    assert [n for n in models if models.fact(n, "input") not in ("image", "any")] == []


def test_facts_that_depend_on_the_config_are_computed_from_it():
    from kopt.schemas.dataset import dataset_channels, dataset_kind, input_signature

    synthetic = OmegaConf.create({"name": "synthetic", "shape": [16], "classes": 3})
    assert dataset_kind(synthetic) == "tabular" and dataset_channels(synthetic) is None
    synthetic.shape = [4, 4, 2]
    assert (dataset_kind(synthetic), dataset_channels(synthetic)) == ("image", 2)
    assert input_signature(synthetic) == ((4, 4, 2), 3)
    coarse = OmegaConf.create({"name": "cifar100", "label_mode": "coarse"})
    assert input_signature(coarse) == ((32, 32, 3), 20)
    assert input_signature(OmegaConf.create({"name": "npz", "path": "x.npz"})) is None


# --- the registry helper -----------------------------------------------------------------------


def test_registry_names_unknown_options_and_calls_config_facts():
    reg = Registry("widget")
    reg.register("a", "b", size=lambda cfg: cfg["n"] * 2)(object)
    reg.register("c", size=3)(dict)
    assert reg.names() == ["a", "b", "c"] and "b" in reg and "z" not in reg
    assert reg.get("c") is dict
    assert reg.fact("a", "size", config={"n": 4}) == 8 and reg.fact("c", "size") == 3
    assert reg.fact("c", "colour", "none") == "none" and reg.fact("a", "size", 0) == 0  # no config: the default
    with pytest.raises(KoptError, match=r"^widget=z: unknown; allowed: a, b, c$"):
        reg.get("z")
