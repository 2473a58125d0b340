"""The study's storage: the URL or journal file it lives in, the journal's repair, and the one place kopt touches Optuna's private API."""
