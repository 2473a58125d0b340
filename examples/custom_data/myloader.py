"""Your own data for kopt: ``load`` returns a mapping with ``x`` and ``y`` (and optionally
``groups``, ``x_test``/``y_test``, ``class_names``, ``feature_names``).

Here: two noisy clusters per class in ``features`` dimensions, drawn with a fixed seed, so that
every call returns the same data (kopt calls the loader once to check it, and once in the run).
Replace the body with your own reading: a database query, a folder of files, a Parquet file, ...
"""

import numpy as np


def load(n=500, features=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes  # every class present
    centres = rng.normal(0.0, 3.0, size=(classes, features))
    x = centres[y] + rng.normal(0.0, 1.0, size=(n, features))
    return {
        "x": x.astype("float32"),
        "y": np.array(["low", "mid", "high"])[y] if classes == 3 else y,  # text labels are classes too
        "class_names": ["low", "mid", "high"] if classes == 3 else None,
        "feature_names": [f"f{i}" for i in range(features)],
    }
