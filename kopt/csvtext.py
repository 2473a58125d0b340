"""Rows of dicts as CSV text: ``metrics.csv`` of a run, ``sweep.csv``, ``kopt report --csv``.

The one CSV writer, below both training (which mirrors metrics.jsonl) and the reports.
"""

from __future__ import annotations

import csv
import io


def _cell(value) -> str:
    if value is None:
        return ""
    return str(value)


def to_csv(rows: list[dict]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    return buf.getvalue()
