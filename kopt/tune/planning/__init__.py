"""Planning a study, before any trial runs: the search space, tuner=auto and pruner=auto, the
objectives' grammar, warm start and enqueued configs, the samplers and pruners, the plan and its
record (kept with the study and in its dir)."""
