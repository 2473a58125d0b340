"""Datasets (``dataset`` group), splitters (``split`` group) and the tf.data pipeline."""
