"""``trainer.callbacks``: Keras callbacks of yours, ``[{_target_: ..., key: value}]``, instantiated
(through kopt.targets, the one rule for a ``_target_``) and added to every fold's fit after kopt's
own progress and metrics callbacks and before its checkpoint (so a learning rate a callback
changes at an epoch's end is the one checkpointed). A callback that would fight kopt's own
(ModelCheckpoint, BackupAndRestore, EarlyStopping, TerminateOnNaN, or a subclass of one) is one
line naming kopt's switch for it. A callback's own state (ReduceLROnPlateau's wait counter, ...) is
not in kopt's checkpoints: a resumed run starts it afresh."""

from __future__ import annotations

from kopt.errors import KoptError
from kopt.schemas.trainer import check_callback_class


def user_callbacks(tr) -> list:
    import keras
    from omegaconf import OmegaConf

    from kopt import targets

    entries = tr.get("callbacks") or []
    entries = OmegaConf.to_container(entries, resolve=True) if OmegaConf.is_config(entries) else list(entries)
    out = []
    for i, entry in enumerate(entries):
        entry = dict(entry)
        key = f"trainer.callbacks[{i}]._target_"
        target = entry.pop("_target_")
        kwargs = {str(k): v for k, v in entry.items()}
        cls = targets.resolve(target, key, kwargs)
        check_callback_class(cls, key)
        callback = cls(**kwargs)
        if not isinstance(callback, keras.callbacks.Callback):
            raise KoptError(f"{key}={target}: made a {type(callback).__name__}, not a keras.callbacks.Callback")
        out.append(callback)
    return out
