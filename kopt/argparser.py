"""The one argument parser style of the commands that are not Hydra apps (and of the worker
processes of ``kopt tune``): argparse whose errors become one ``kopt: error:`` line."""

from __future__ import annotations

import argparse

from kopt.errors import KoptError


class ArgumentParser(argparse.ArgumentParser):
    """Raises KoptError instead of printing the usage and exiting (the CLI prints one line)."""

    def error(self, message: str):
        raise KoptError(f"{message} (see {self.prog} --help)")


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is out of range; allowed: 0 < alpha < 1")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is out of range; allowed: >= 1")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is out of range; allowed: >= 0")
    return value


MAX_RESAMPLES = 1_000_000  # the bootstrap's memory and time grow with it (24 bytes a resample)


def resamples(text: str) -> int:
    value = positive_int(text)
    if value > MAX_RESAMPLES:
        raise argparse.ArgumentTypeError(f"{text} is out of range; allowed: 1 .. {MAX_RESAMPLES}")
    return value
