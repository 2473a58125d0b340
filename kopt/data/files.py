"""The user's own data: ``npz`` arrays or an ``images`` folder of class sub-folders (tables:
:mod:`kopt.data.sources.table`).

Each takes an optional fixed test set (``x_test``/``y_test`` in the npz, ``test_path`` for
images); without one, the ``split`` group sets a stratified test set aside.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from kopt.data.base import LOADERS, Data, check_data, loader, with_fixed_test
from kopt.errors import KoptError
from kopt.runfiles import BadFile
from kopt.runfiles import load_npz as read_npz
from kopt.schemas.dataset import check_file


def existing(path, key: str, folder: bool = False) -> Path:
    prefix, _, name = key.rpartition(".")
    check_file(prefix, name, path, folder)
    return Path(str(path)).expanduser()


# ---------------------------------------------------------------------------------------------- npz


def precheck_arrays(cfg) -> Data:
    """Read the file once (numpy only) and check what the loader would return; returns it (its
    labels are checked against the split next: kopt.data.datasets.check_files_content)."""
    from kopt.data.labels import label_source, refuse_skipped_values

    data = LOADERS.get(cfg.name)(cfg)
    if cfg.task in ("auto", "multiclass"):
        refuse_skipped_values(data, label_source(cfg))  # labels like 20..69: a regression target
    return check_data(data, f"dataset={cfg.name}", cfg.task)


@loader("npz", precheck=precheck_arrays)
def load_npz(cfg) -> Data:
    path = existing(cfg.path, "dataset.path")
    try:
        arrays = read_npz(path)  # sizes checked before unpacking; random bytes are "not a zip file", not "pickled"
    except BadFile as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        raise KoptError(f"dataset.path={path}: not a readable .npz file ({reason})") from None
    need = [k for k in ("x_train", "y_train") if k not in arrays]
    if need:
        raise KoptError(
            f"dataset.path={path}: missing key(s) {', '.join(need)}; found {', '.join(sorted(arrays)) or 'none'}; "
            "expected x_train, y_train and optionally x_test, y_test"
        )
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise KoptError(f"dataset.path={path}: has only one of x_test, y_test; give both or neither")
    classes = cfg.classes
    meta = dict(
        name="npz",
        kind="image" if arrays["x_train"].ndim >= 3 else "tabular",
        class_names=[str(c) for c in range(classes)] if classes else [],
    )
    groups = _npz_groups(arrays, cfg.groups, path) if cfg.groups else None
    if "x_test" in arrays:
        if len(arrays["x_test"]) == 0:
            raise KoptError(
                f"dataset.path={path}: x_test is empty; drop x_test/y_test to let split.test_size choose one"
            )
        data = with_fixed_test(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], **meta)
        if groups is not None:  # the fixed test rows' groups are never read: they repeat the first group
            groups = np.concatenate([groups, np.repeat(groups[:1], len(arrays["x_test"]))])
        return replace(data, groups=groups)
    return Data(arrays["x_train"], arrays["y_train"], groups=groups, **meta)


def _npz_groups(arrays: dict, key: str, path: Path) -> np.ndarray:
    """``dataset.groups``: the name of an array in the npz with one group per x_train row."""
    if key not in arrays:
        raise KoptError(
            f"dataset.groups={key}: no such array in {path}; found {', '.join(sorted(arrays))}; "
            "it names an array with one group per x_train row"
        )
    groups = np.asarray(arrays[key])
    if groups.ndim != 1 or len(groups) != len(arrays["x_train"]):
        raise KoptError(
            f"dataset.groups={key}: has shape {groups.shape}; expected one group per x_train row, "
            f"shape ({len(arrays['x_train'])},)"
        )
    return groups


# ------------------------------------------------------------------------------------------- images

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")  # what image_dataset_from_directory reads


def class_folders(path: Path, key: str, class_names: list[str] | None = None) -> list[str]:
    """The class sub-folders of an image folder, checked: at least 2, as the training folders."""
    subdirs = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(subdirs) < 2:
        raise KoptError(f"{key}={path}: needs one sub-folder per class (at least 2); found {len(subdirs)}")
    if class_names is not None and subdirs != class_names:
        raise KoptError(f"{key}={path}: class folders {subdirs} differ from the training folders {class_names}")
    return subdirs


def check_image_folder(path: Path, key: str, class_names: list[str] | None = None) -> list[str]:
    """The folder's structure and every image, decoded with Pillow one at a time (no TensorFlow;
    the images stream in the run, so a file that does not decode must be found here): a class
    without images or a file that is no image costs one line naming it before any run dir exists."""
    from PIL import Image, UnidentifiedImageError

    from kopt.data.images import image_files

    subdirs = class_folders(path, key, class_names)
    for name in subdirs:
        files = [Path(f) for f in image_files(path, [name], IMAGE_SUFFIXES)[0]]  # as the run lists them
        if not files:
            raise KoptError(f"{key}={path}: class folder {name}/ holds no images ({', '.join(IMAGE_SUFFIXES)})")
        for file in files:
            try:
                with Image.open(file) as image:
                    image.load()  # the whole file: a truncated image fails here, not in the run
            except (UnidentifiedImageError, OSError, ValueError) as exc:
                raise KoptError(
                    f"{key}={path}: {file.relative_to(path)} is not a readable image ({type(exc).__name__})"
                ) from None
    return subdirs


def list_image_folder(path: Path, key: str, cfg, class_names: list[str] | None = None):
    """(the files as :class:`kopt.data.images.FileImages`, their labels, the class names): the list
    of files in memory, never the decoded images (they stream: kopt.data.pipeline)."""
    from kopt.data.images import CHANNELS, FileImages, image_files

    subdirs = class_folders(path, key, class_names)
    files, labels = image_files(path, subdirs, IMAGE_SUFFIXES)
    if not files:
        raise KoptError(f"{key}={path}: no images found (.png, .jpg, .jpeg, .bmp, .gif) in the class folders")
    return FileImages(files, cfg.image_size, CHANNELS[cfg.color_mode]), np.asarray(labels, "int64"), subdirs


def precheck_images(cfg) -> None:
    """The folders' structure and image headers (Pillow), without decoding every image."""
    names = check_image_folder(existing(cfg.path, "dataset.path", folder=True), "dataset.path")
    if cfg.test_path:
        check_image_folder(existing(cfg.test_path, "dataset.test_path", folder=True), "dataset.test_path", names)


@loader("images", precheck=precheck_images)
def load_images(cfg) -> Data:
    """The files and their labels; the images are decoded fold by fold as they stream."""
    path = existing(cfg.path, "dataset.path", folder=True)
    x, y, names = list_image_folder(path, "dataset.path", cfg)
    if cfg.test_path:
        test_path = existing(cfg.test_path, "dataset.test_path", folder=True)
        x_test, y_test, _ = list_image_folder(test_path, "dataset.test_path", cfg, names)
        x = type(x)(np.concatenate([x.files, x_test.files]), x.size, x.channels)
        test_idx = np.arange(len(y), len(y) + len(y_test), dtype="int64")
        return Data(x, np.concatenate([y, y_test]), "images", "image", names, test_idx=test_idx)
    return Data(x, y, "images", "image", names)
