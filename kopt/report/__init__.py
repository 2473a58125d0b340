"""Find, tabulate and plot finished (or failed, or still running) runs. No TensorFlow here."""
