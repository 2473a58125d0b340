"""The ``model`` group's checks shared by every model, kopt's own and a plugin's. Each model's schema
lives in its option module with its builder (kopt's own in kopt/models/zoo/, a plugin's in its
package), registered with :func:`kopt.schemas.schema` and the facts read here: ``input`` ("image":
the model convolves over (H, W, C) images; "any") and ``search`` (the search preset of kopt tune)."""

from pathlib import Path

from kopt.errors import KoptError
from kopt.schemas import SCHEMAS, fact


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


def check_model_against_config(cfg, model, machine: bool = True) -> None:
    """The model's own checks across groups, after every other check of the config: its schema's
    ``check_config(cfg, machine)``, where it has one (model=custom refuses regularizer.dropout and,
    with ``machine``, imports your module there, so Keras often loads with it)."""
    check = getattr(model, "check_config", None)
    if check is not None:
        check(cfg, machine)


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
