"""Shared by the benchmark scripts: machine description and the results file.

Every script accepts ``--quick`` and ``--out FILE`` and writes one JSON document:
``{"benchmark", "date", "machine", "quick", "targets": [{"name", "target", "measured", "ok", "unit"}], ...}``.
``benchmarks/run_all.py`` runs them all and regenerates BENCHMARKS.md from these documents.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "host": socket.gethostname(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def now() -> str:
    """When a result was written (local time, to the second): the newest result of a day wins."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a reduced run (minutes, not tens of minutes)")
    p.add_argument(
        "--out",
        type=lambda s: Path(s).resolve(),  # absolute now: some scripts work in a temporary folder
        default=None,
        help="results JSON (default: benchmarks/results/<date>-<host>-<name>.json)",
    )
    return p


def target(name: str, measured: float | None, goal: str, ok: bool | None, unit: str = "x", **extra) -> dict:
    return {"name": name, "measured": measured, "target": goal, "ok": ok, "unit": unit, **extra}


def write_result(name: str, out: Path | None, quick: bool, targets: list[dict], **details) -> Path:
    doc = {
        "benchmark": name,
        "date": date.today().isoformat(),
        "time": now(),
        "machine": machine(),
        "quick": quick,
        "targets": targets,
        **details,
    }
    out = out or RESULTS / f"{date.today().isoformat()}-{socket.gethostname()}-{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(out)
    for t in targets:
        verdict = "pass" if t["ok"] else ("short" if t["ok"] is False else "n/a")
        print(f"{name}: {t['name']} = {t['measured']} {t['unit']} (target {t['target']}): {verdict}")
    print(f"wrote {out}")
    return out


def timed(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}")
    return elapsed


def kopt_cmd() -> list[str]:
    return [sys.executable, "-m", "kopt"]


def kopt_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


median = statistics.median
