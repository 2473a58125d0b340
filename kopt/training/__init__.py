"""Training: callbacks, the per-fold loop and the run dir it writes (TensorFlow is imported here)."""
