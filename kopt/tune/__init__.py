"""``kopt tune``: Optuna search over kopt train configs, in five folders that import one way, bottom to top:

  store/      the study's storage, its journal, Optuna's private API
  planning/   the search space, tuner=auto, objectives, warm start, samplers, pruners, the plan and its record
  trials/     claiming the next trial, recovering interrupted ones, repeats, which trials keep their model
  results/    the Pareto front, trials.csv and summary.json, plots, study.html, best.yaml, the retrain
  running/    the study opened or joined, the worker loop and processes, one trial, the terminal output

and ``run.py`` on top: one study end to end (docs/architecture.md).
"""
