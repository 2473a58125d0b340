"""The ``model`` group's schemas. Facts stated at registration: ``input`` ("image": the model
convolves over (H, W, C) images; "any") and ``search`` (the search preset of kopt tune)."""

from dataclasses import dataclass
from pathlib import Path

from kopt.errors import KoptError
from kopt.schemas import SCHEMAS, fact, param, schema
from kopt.schemas.depth import densenet_layers, resnet_blocks, wrn_blocks


@schema("model", "mlp", input="any")
@dataclass
class MLPConfig:
    name: str
    width: int = param(ge=1)
    depth: int = param(ge=1)

    def min_params(self) -> int:
        """A lower bound of the parameter count (the hidden-to-hidden weights), without building."""
        return self.width * self.width * (self.depth - 1)


@schema("model", "cnn", input="image", search="cnn_digits")
@dataclass
class CNNConfig:
    name: str
    width: int = param(ge=1)
    depth: int = param(ge=1)
    convs_per_block: int = param(ge=1)
    kernel_size: int = param(ge=1)
    dense: int = param(ge=0)

    MAX_FILTERS = 16384  # filters double per block: a ResNet-like depth here would not fit in memory

    def min_params(self) -> int:
        """A lower bound of the parameter count (conv kernels after the first, the dense layer)."""
        filters = [self.width * 2**b for b in range(self.depth) for _ in range(self.convs_per_block)]
        convs = sum(self.kernel_size**2 * a * b for a, b in zip(filters, filters[1:]))
        return convs + filters[-1] * self.dense

    def check(self, prefix: str) -> None:
        last = self.width * 2 ** (self.depth - 1)
        if last > self.MAX_FILTERS:
            raise KoptError(
                f"{prefix}.depth={self.depth} with {prefix}.width={self.width}: the filters double per "
                f"block, to {self.width}x2^{self.depth - 1} in the last; allowed: "
                f"width x 2^(depth-1) <= {self.MAX_FILTERS}"
            )


@schema("model", "resnet", input="image", search="resnet")
@dataclass
class ResNetConfig:
    name: str
    depth: int
    version: int = param(choices=(1, 2))
    shortcut: str = param(choices=("A", "B"))

    def check(self, prefix: str) -> None:
        resnet_blocks(self.depth, f"{prefix}.depth")


@schema("model", "densenet", input="image")
@dataclass
class DenseNetConfig:
    name: str
    depth: int
    growth_rate: int = param(ge=1)
    compression: float = param(gt=0, le=1)
    bottleneck: bool
    dropout: float = param(ge=0, lt=1)
    init_filters: int | None = param(ge=1)

    def check(self, prefix: str) -> None:
        densenet_layers(self.depth, self.bottleneck, f"{prefix}.depth")


@schema("model", "wrn", input="image")
@dataclass
class WRNConfig:
    name: str
    depth: int
    width: int = param(ge=1)
    dropout: float = param(ge=0, lt=1)

    def check(self, prefix: str) -> None:
        wrn_blocks(self.depth, f"{prefix}.depth")

    def min_params(self) -> int:
        """About the parameter count: WRN-28-10 has 36.5 M, growing with width^2 and with depth."""
        return int(36.5e6 * (self.width / 10) ** 2 * (self.depth - 4) / 24)


@schema("model", "custom", input="any")
@dataclass
class CustomModelConfig:
    """Your own Keras model (kopt.models.custom): ``_target_`` names the function or class that
    builds it; every other key of the node is passed to it as a keyword argument (``params``,
    filled by kopt.validate: this schema is open to keys of your own)."""

    name: str
    _target_: str | None
    init: str | None  # a finished run dir whose model.keras gives the starting weights (kopt.models.init_from)

    OPEN = True  # keys beyond the fields are the builder's own, collected in ``params``
    OWN_KEYS = ("name", "_target_", "init")  # kopt's keys, never passed to the builder

    def check(self, prefix: str) -> None:
        from kopt import targets

        if self._target_ is None:
            raise KoptError(
                f"{prefix}._target_: missing; model=custom needs the function that builds your model, "
                f"e.g. {prefix}._target_=mynets.build"
            )
        for key in getattr(self, "params", {}):
            if key in ("input_shape", "num_outputs") or key.startswith("_"):
                what = "is set by kopt (from the dataset)" if not key.startswith("_") else "is not supported"
                raise KoptError(f"{prefix}.{key}: {what}; allowed: _target_ and keys of your own")
        targets.check(self._target_, f"{prefix}._target_", look=False)  # nothing is imported here

    def check_machine(self, prefix: str) -> None:
        from kopt import targets

        targets.check(self._target_, f"{prefix}._target_")  # your module is on the import path (not imported)


@schema("model", "keras_app", input="image")
@dataclass
class KerasAppConfig:
    """A ``keras.applications`` architecture by name (kopt.models.keras_app), with its own input
    preprocessing inside the model and kopt's classifier head on its pooled features."""

    name: str
    arch: str
    weights: str | None = param(choices=(None, "imagenet"))
    trainable: str = param()
    size: int = param(ge=32)
    init: str | None = param()  # a finished run dir whose model.keras gives the starting weights

    def check(self, prefix: str) -> None:
        from kopt.schemas.app_names import APPLICATIONS

        if self.arch not in APPLICATIONS:
            close = [a for a in APPLICATIONS if a.lower().startswith(self.arch.lower()[:5])] or APPLICATIONS
            raise KoptError(f"{prefix}.arch={self.arch}: not a keras.applications builder; allowed: {', '.join(close)}")
        text = str(self.trainable)
        if text not in ("all", "none") and not (text.isdigit() and int(text) > 0):
            raise KoptError(
                f"{prefix}.trainable={text}: allowed: all, none, or N > 0 (the top N layers of the architecture)"
            )


def search_presets() -> dict[str, str]:
    """model -> the search preset (configs/search/<preset>.yaml) kopt tune uses when given no search:
    the ``search`` fact a model states at its registration."""
    models = SCHEMAS["model"]
    return {name: models.fact(name, "search") for name in models if models.fact(name, "search")}


def check_model_fits_dataset(cfg) -> None:
    """Refuse an image model on tabular data before anything runs (where the config tells)."""
    from kopt.errors import KoptError
    from kopt.schemas.dataset import dataset_kind

    model, dataset = cfg.get("model"), cfg.get("dataset")
    if model is None or dataset is None:
        return
    if fact("model", model.get("name"), "input", "any") == "image" and dataset_kind(dataset) == "tabular":
        raise KoptError(
            f"model={model.get('name')} needs image input (H, W, C), but dataset={dataset.get('name')} "
            "is tabular; use model=mlp"
        )


def check_custom_model(cfg, model, machine: bool = True) -> None:
    """model=custom, after every other check of the config: regularizer.dropout (a zoo builders' key)
    is refused, and (``machine``) the target is imported and checked against the keys given (one
    line, before any run dir; not for print-only command lines, which never import your code)."""
    from kopt import targets

    if not isinstance(model, CustomModelConfig):
        return
    reg = cfg.get("regularizer")
    if reg is not None and float(reg.get("dropout") or 0.0) > 0:
        raise KoptError(
            f"regularizer.dropout={reg.get('dropout')}: not applied to model=custom; allowed: 0 "
            "(put Dropout layers in your model, with a key of your own to search its rate)"
        )
    if machine:
        targets.resolve(model._target_, "model._target_", {"input_shape": (1,), "num_outputs": 2, **model.params})


# model keys that may differ from those of the run whose weights a run starts from (model.init)
INIT_FREE_KEYS = ("name", "init", "trainable", "weights")


def init_model_files(run) -> list[str]:
    """The saved models of a finished run (a :class:`kopt.rundir.RunDir`): model.keras, or one
    model_fold<i>.keras per fold."""
    n = len(run.folds)
    return ["model.keras"] if n == 1 else [f"model_fold{i}.keras" for i in range(n)]


def _plain(node, resolve: bool):
    from omegaconf import DictConfig, OmegaConf

    if isinstance(node, DictConfig):
        try:
            return OmegaConf.to_container(node, resolve=resolve)
        except Exception:  # an interpolation that does not resolve: compared as written
            return OmegaConf.to_container(node, resolve=False)
    return node


def _difference(prefix: str, theirs, ours) -> str | None:
    """The first key where two config nodes differ, as ``key=theirs`` vs ``key=ours``; None if equal."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        for key in sorted(set(theirs) | set(ours), key=str):
            found = _difference(f"{prefix}.{key}", theirs.get(key), ours.get(key))
            if found:
                return found
        return None
    if theirs == ours:
        return None
    shown = ["null" if v is None else v for v in (theirs, ours)]
    return f"trained with {prefix}={shown[0]}, this run has {prefix}={shown[1]}"


def check_model_init(cfg, model) -> None:
    """``model.init``: a completed ``kopt train`` run dir, with its saved model(s), that trained the
    same architecture (every model key but init, trainable and weights) on the same dataset, split
    and seed, so that this run's test set holds no example its starting weights were trained on.
    One line before any run dir. The run dir is read as data (kopt.rundir): nothing in it runs.
    A fact of this machine: kopt.validate.validate_train calls it only with ``machine=True``."""
    init = getattr(model, "init", None)
    if not init:
        return
    from kopt.rundir import load_run

    where = f"model.init={init}"
    try:
        run = load_run(init)
        source = run.config
    except KoptError as exc:
        raise KoptError(f"{where}: not a finished kopt train run ({exc})") from None
    theirs = source.get("model")
    if not isinstance(theirs, dict) or theirs.get("name") != model.name:
        other = theirs.get("name") if isinstance(theirs, dict) else None
        raise KoptError(
            f"{where}: that run trained model={other}, this run has model={model.name}; the weights load only "
            "into the same architecture"
        )

    def first_difference(group: str, theirs_node, skip=()) -> str | None:
        found = None
        for resolve in (True, False):  # as composed, or as written (an interpolation kept as such)
            ours = _plain(cfg.get(group), resolve)
            if isinstance(ours, dict) and isinstance(theirs_node, dict):
                ours, theirs_node = ({k: v for k, v in d.items() if k not in skip} for d in (ours, theirs_node))
            found = _difference(group, theirs_node, ours)
            if not found:
                return None
        return found

    found = first_difference("model", theirs, INIT_FREE_KEYS)
    if found:
        raise KoptError(f"{where}: {found}; the weights load only into the same architecture")
    found = (
        first_difference("dataset", source.get("dataset"))
        or first_difference("split", source.get("split"))
        or _difference("seed", source.get("seed"), cfg.get("seed"))
    )
    if found:
        raise KoptError(
            f"{where}: {found}; allowed: the same dataset, split and seed as that run (else this run's test set "
            "would hold examples those weights were trained on)"
        )
    for name in init_model_files(run):
        if not (Path(init) / name).is_file():
            raise KoptError(f"{where}: that run saved no {name} (trainer.checkpoint=false?)")


BYTES_PER_PARAM = 4 * 5  # float32 weights, gradients, two optimizer moments, the best epoch's copy


def check_model_fits_memory(model) -> None:
    """Refuse, before anything is built, a model whose training cannot fit in the memory available
    (a fact of this machine: kopt.validate.validate_train calls it only with ``machine=True``)."""
    from kopt.errors import KoptError
    from kopt.procs import available_memory

    estimate = getattr(model, "min_params", None)
    if estimate is None:
        return
    params, available = estimate(), available_memory()
    need = params * BYTES_PER_PARAM
    if need > available:
        raise KoptError(
            f"model={model.name} ({', '.join(f'{k}={v}' for k, v in vars(model).items() if k != 'name')}) "
            f"has at least {params:,} parameters: training needs about {need / 2**30:.1f} GiB (weights, "
            f"gradients, optimizer state), but {available / 2**30:.1f} GiB of memory is available; "
            "allowed: a smaller model.width or model.depth"
        )
