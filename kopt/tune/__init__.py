"""``kopt tune``: Optuna search over kopt train configs (search space, samplers, pruners, study)."""
