"""What a study's trials add up to: the Pareto front and its pick, trials.csv and summary.json,
the plots, study.html, best.yaml and the retrain of the best trial."""
