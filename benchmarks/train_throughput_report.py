"""benchmarks/train_throughput.py's reporting: each variant's summary, the targets, the results JSON and
the .md beside it (``--rereport`` rebuilds them from a results file without running anything)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from common import machine, median, target, write_result


def summarize(doc: dict, peak: float | None = None) -> dict:
    """Two views of each side. Wall clock: the best epoch over all runs (other processes on a shared
    machine only ever slow a run down). CPU time: the median images per CPU-second of the process,
    which time-slicing with other processes barely moves (but which does not see idle cores).
    ``peak``: the wall-clock matmul peak to divide by (default: the best of this variant's)."""
    flops, n = 3 * doc["flops_per_image"], doc["train_images"]
    rows = {s: doc[s] for s in ("kopt", "plain")}
    peak = peak or max(r["peak_gflops"] for s in rows.values() for r in s)
    peak_cpu = median([r["peak_gflop_per_cpu_s"] for s in rows.values() for r in s])

    def side(name):
        wall = [n / t for r in rows[name] for t in r["train_s"][1:]]
        cpu = [n / t for r in rows[name] for t in r["train_cpu_s"][1:]]
        whole = [n / t for r in rows[name] for t in r["epoch_s"][1:]]
        return {
            "best_images_per_s": round(max(wall), 1),
            "median_images_per_s": round(median(wall), 1),
            "best_epoch_images_per_s": round(max(whole), 1),
            "images_per_cpu_s": round(median(cpu), 1),
            "best_gflops": round(max(wall) * flops / 1e9, 1),
            "fraction_of_peak": round(max(wall) * flops / 1e9 / peak, 3),
            "fraction_of_peak_cpu": round(median(cpu) * flops / 1e9 / peak_cpu, 3),
        }

    kopt, plain = side("kopt"), side("plain")
    return {
        "ratio": round(kopt["best_images_per_s"] / plain["best_images_per_s"], 3),
        "ratio_cpu": round(kopt["images_per_cpu_s"] / plain["images_per_cpu_s"], 3),
        "whole_epoch_ratio": round(kopt["best_epoch_images_per_s"] / plain["best_epoch_images_per_s"], 3),
        "peak_gflops": round(peak, 1),
        "peak_gflop_per_cpu_s": round(peak_cpu, 1),
        "kopt": kopt,
        "plain": plain,
    }


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def write_markdown(path: Path, variants: list[dict], head: dict, args) -> None:
    m = machine()
    lines = [
        f"# Training throughput: ResNet-20, 32x32x3 synthetic data ({path.stem.split('-train')[0]})",
        "",
        f"{m['cpu']}, {m['cores']} cores, host {m['host']}; load average before/after "
        f"{args.load_before} / {args.load_after} (the machine is shared: wall-clock numbers move with its load, "
        "the CPU-time ones much less).",
        "",
        f"Each variant: {args.rounds} rounds alternating kopt/plain and plain/kopt in one process, "
        f"{args.epochs} epochs per run (first dropped), {head.get('train_images', '?')} training images. "
        "FLOPs per training image = 3 x forward FLOPs "
        f"({head.get('flops_per_image', 0) / 1e6:.1f} MFLOP forward). Wall clock: the best epoch of all runs "
        "of a side, against the best fp32 2048/3072 matmul of the whole run (on a loaded machine that peak is "
        "an underestimate, so these fractions are upper bounds). CPU time: the median "
        "images (and FLOPs) per CPU-second of the process, against the matmul's median FLOPs per CPU-second; "
        "robust to other processes, blind to idle cores.",
        "",
        "| variant | images/s kopt / plain (best epoch) | ratio | images per CPU-s kopt / plain | ratio | "
        "whole-epoch ratio | % of peak kopt / plain | % of peak per CPU-s kopt / plain | peak GFLOP/s "
        "(per CPU-s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in variants:
        if v.get("error"):
            lines.append(f"| {v['name']} | {v['error']} | | | | | | | |")
            continue
        s = v["summary"]
        k, p = s["kopt"], s["plain"]
        lines.append(
            f"| {v['name']} | {k['best_images_per_s']} / {p['best_images_per_s']} | {s['ratio']} | "
            f"{k['images_per_cpu_s']} / {p['images_per_cpu_s']} | {s['ratio_cpu']} | "
            f"{s['whole_epoch_ratio']} | {100 * k['fraction_of_peak']:.0f} / {100 * p['fraction_of_peak']:.0f} | "
            f"{100 * k['fraction_of_peak_cpu']:.0f} / {100 * p['fraction_of_peak_cpu']:.0f} | "
            f"{s['peak_gflops']} ({s['peak_gflop_per_cpu_s']}) |"
        )
    lines += [
        "",
        "Variants: `default` = kopt's defaults with op determinism off on both sides; `deterministic` = "
        "op determinism on (kopt's `trainer.deterministic=true` default) on both sides; `intraN_interM` = "
        "`trainer.intra_threads`/`inter_threads` (plain side: the same process settings); `batchN` = batch size; "
        "`tfdata_private_pool` = kopt's tf.data datasets with a private 1-thread pool; "
        "`plain_with_kopt_layers` = the plain side also uses kopt's fused batch norm (isolates the input "
        "pipeline and callbacks).",
        "",
    ]
    notes = Path(__file__).with_name("train_throughput_notes.md")
    if notes.exists():
        lines += [notes.read_text().strip(), ""]
    path.write_text("\n".join(lines) + "\n")


def report(variants: list[dict], args, out: Path | None) -> Path:
    """Summaries (every variant against the best matmul of the whole run), targets, JSON and .md."""
    ok = [v for v in variants if not v.get("error")]
    peak = max((r["peak_gflops"] for v in ok for side in ("kopt", "plain") for r in v[side]), default=None)
    for v in ok:
        v["summary"] = summarize(v, peak)
    head = next((v for v in ok if v["name"] == "default"), ok[0] if ok else {})
    s = head.get("summary")

    def check(value, goal):
        return None if value is None else value >= goal

    def get(*keys):
        node = s
        for key in keys:
            node = node[key] if node else None
        return node

    targets = [
        target(
            "images/s, kopt / plain Keras (best epoch, wall clock)", get("ratio"), ">= 1.5", check(get("ratio"), 1.5)
        ),
        target(
            "images per CPU-second, kopt / plain Keras (median)",
            get("ratio_cpu"),
            ">= 1.5",
            check(get("ratio_cpu"), 1.5),
        ),
        target(
            "kopt GFLOP/s / fp32 matmul peak (best epoch, wall clock)",
            get("kopt", "fraction_of_peak"),
            ">= 0.70",
            check(get("kopt", "fraction_of_peak"), 0.70),
            unit="",
        ),
        target(
            "kopt GFLOP per CPU-second / the matmul's (median)",
            get("kopt", "fraction_of_peak_cpu"),
            ">= 0.70",
            check(get("kopt", "fraction_of_peak_cpu"), 0.70),
            unit="",
        ),
        target(
            "plain Keras GFLOP/s / matmul peak (wall clock; reference)",
            get("plain", "fraction_of_peak"),
            "-",
            None,
            unit="",
        ),
        target(
            "plain Keras GFLOP per CPU-second / the matmul's (reference)",
            get("plain", "fraction_of_peak_cpu"),
            "-",
            None,
            unit="",
        ),
    ]
    out = write_result(
        "train_throughput",
        out,
        args.quick,
        targets,
        headline=head.get("name"),
        load_average={"before": args.load_before, "after": args.load_after},
        settings={"rounds": args.rounds, "epochs": args.epochs, "size": args.size},
        variants=variants,
    )
    write_markdown(out.with_suffix(".md"), variants, head, args)
    print(f"wrote {out.with_suffix('.md')}")
    return out


def rereport(path: Path) -> None:
    """Rebuild the summaries, targets and .md of a results file (after a change to the reporting)."""
    import argparse

    doc = json.loads(path.read_text())
    settings = doc.get("settings", {"rounds": 3, "epochs": 4, "size": 1600})
    args = argparse.Namespace(
        quick=doc["quick"],
        load_before=doc["load_average"]["before"],
        load_after=doc["load_average"]["after"],
        **settings,
    )
    report(doc["variants"], args, path)
