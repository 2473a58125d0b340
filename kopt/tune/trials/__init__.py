"""A study's trials as the storage holds them: claiming the next one, recovering those a dead
process left, not training a configuration twice, and which trials keep their model."""
