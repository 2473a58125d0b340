"""Terminal output of ``kopt tune``: on a TTY a progress bar over trials, a nested one over the
epochs of the running trial and a live leaderboard; plain lines otherwise."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from kopt.console import console, eta, fmt, is_tty, log_lines
from kopt.tune.planning.auto import describe as describe_auto
from kopt.tune.planning.plan import TunePlan


def short(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def params_text(params: dict, width: int = 80) -> str:
    text = " ".join(f"{k}={short(v)}" for k, v in params.items())
    return text if len(text) <= width else text[: width - 1] + "…"


def numbers(items: list[int]) -> str:
    return ("trial " if len(items) == 1 else "trials ") + ", ".join(map(str, items))


def ranked(rows: list[dict], direction: str) -> list[dict]:
    """Completed trials, best first; a repeat (its original is there) once."""
    done = [r for r in rows if r["state"] == "COMPLETE" and r["value"] is not None and r.get("duplicate_of") is None]
    return sorted(done, key=lambda r: r["value"], reverse=direction == "maximize")


class TuneUI:
    def __init__(self, plan: TunePlan, study_dir, top: int = 5):
        self.plan, self.study_dir, self.top = plan, study_dir, top
        self.n_trials = plan.n_trials  # the trials this study runs itself (see start)
        self.tty = is_tty()
        self.rows: list[dict] = []
        self.live = self.progress = None
        self.current: dict[int, dict] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, rows: list[dict], recovered: tuple[list[int], list[int]] = ([], [])) -> None:
        plan = self.plan
        self.rows = rows
        # trials copied by tuner.warm_start are not this study's work (kopt.tune.planning.warmstart counted them on
        # top of n_trials): the header and the counters show the trials this study runs, and neither they
        # nor enqueued trials still waiting make a study "resumed"
        copied = sum(bool(r.get("warm_start_from")) for r in rows)
        self.n_trials = plan.n_trials - copied
        done = self.done(rows)
        own = [r for r in rows if not r.get("warm_start_from")]
        status = f"resumed, {done} of {self.n_trials} done" if any(r["state"] != "WAITING" for r in own) else "new"
        if copied:
            status += f", warm-started with {copied} trial{'s' if copied > 1 else ''}"
        console.print(
            f"[bold cyan]kopt tune[/]  study [bold]{plan.study_name}[/] ({status})  "
            f"[bold]tuner[/]={plan.tuner_name}  [bold]pruner[/]={plan.pruner_name}  "
            f"[bold]n_trials[/]={self.n_trials}  {plan.metric} ({plan.direction})"
        )
        console.print(f"[dim]study dir: {self.study_dir}[/]")
        for line in describe_auto(plan.tuner, plan.pruner):
            console.print(f"[dim]{line}[/]")
        for line in plan.space.describe():
            console.print(f"[dim]  search {line}[/]")
        failed, enqueued = recovered
        if failed:
            console.print(f"[yellow]{numbers(failed)} left running by a dead process: marked FAIL (interrupted)[/]")
        if enqueued:
            console.print(
                f"[yellow]{numbers(enqueued)} interrupted: {'its' if len(enqueued) == 1 else 'their'} "
                "parameters run again[/]"
            )
        if self.tty:
            from rich.live import Live

            from kopt.console import progress_bar

            self.progress = progress_bar(console=console)
            self.trials_task = self.progress.add_task("trials", total=self.n_trials, completed=done, stats="")
            self.epochs_task = self.progress.add_task("epochs", total=1, completed=0, stats="", visible=False)
            self.live = Live(self._renderable(), console=console, refresh_per_second=4, transient=False)
            self.live.start()
            self._refresh()

    @staticmethod
    def done(rows: list[dict]) -> int:
        """This study's finished trials (COMPLETE or PRUNED), without those tuner.warm_start copied in and
        without repeats (they reuse a finished trial, and do not count towards n_trials)."""
        return sum(
            r["state"] in ("COMPLETE", "PRUNED") and not r.get("warm_start_from") and r.get("duplicate_of") is None
            for r in rows
        )

    def stop(self) -> None:
        if self.live is not None:
            self._refresh()
            self.live.stop()
            self.live = None

    # -- events ------------------------------------------------------------------------------
    def trial_started(self, number: int, params: dict, epochs: int) -> None:
        self.current[number] = {"params": dict(params), "epochs": epochs}
        if self.progress is not None:
            self.progress.update(
                self.epochs_task, description=f"trial {number}", completed=0, total=epochs, stats="", visible=True
            )
            self._refresh()

    def epoch(self, number: int, fold: int, n_folds: int, epoch: int, epochs: int, logs: dict) -> None:
        if self.progress is None:
            return
        stats = "  ".join(f"{k} {float(v):.4f}" for k, v in logs.items() if k in ("loss", "val_loss", "val_accuracy"))
        label = f"trial {number}" + (f" fold {fold} of {n_folds}" if n_folds > 1 else "")
        self.progress.update(
            self.epochs_task, description=label, completed=fold * epochs + epoch, total=n_folds * epochs, stats=stats
        )

    def trial_finished(self, row: dict, rows: list[dict]) -> None:
        self.rows = rows
        self.current.pop(row["number"], None)
        done = self.done(rows)
        best = ranked(rows, self.plan.direction)
        best_text = f"best {best[0]['value']:.4f} (#{best[0]['number']})" if best else "no complete trial yet"
        if self.progress is not None:
            self.progress.update(self.trials_task, completed=done, stats=best_text)
            self.progress.update(self.epochs_task, visible=False)
            self._refresh()
        state = row["state"]
        if state == "COMPLETE":
            what = f"{self.plan.metric}={row['value']:.4f}"
        elif state == "PRUNED":
            what = row.get("fail_reason") or f"at epoch {row.get('pruned_epoch')}"  # (infeasible: never trained)
        else:
            what = row.get("fail_reason") or ""
        if row.get("duplicate_of") is not None:
            what += f" (duplicate of #{row['duplicate_of']}, not trained)"
        duration = f"{row['duration_s']:.1f}s" if row.get("duration_s") is not None else ""
        line = (
            f"trial {row['number']} {state} {what}  {duration}  {params_text(row['params'])}  "
            f"[{done}/{self.n_trials} done, {best_text}{self.eta(done)}]"
        )
        # the live display shows it on a terminal; the log (tune.log) always gets the line
        (log_lines if self.progress is not None else console.print)(line.replace("[", r"\["))

    def eta(self, done: int) -> str:
        """``, eta 2m10s``: the trials left at the mean duration of the study's finished trials,
        shared by the workers."""
        finished = [
            r["duration_s"]
            for r in self.rows
            if r.get("duration_s") is not None
            and r["state"] in ("COMPLETE", "PRUNED", "FAIL")
            and r.get("duplicate_of") is None  # (a repeat takes no time: it is not trained)
        ]
        left = self.n_trials - done
        if not finished or left <= 0:
            return ""
        workers = max(1, int(self.plan.tuner.get("n_workers", 1) or 1))
        return ", " + eta(sum(finished) / len(finished) * left / workers)

    def refresh_rows(self, rows: list[dict]) -> None:
        """Parallel workers: the monitor reports every trial that finished since the last poll."""
        seen = {r["number"]: r["state"] for r in self.rows}
        for row in rows:
            if row["state"] not in ("RUNNING", "WAITING") and seen.get(row["number"]) != row["state"]:
                self.trial_finished(row, rows)
        self.rows = rows
        self._refresh()

    # -- rendering ---------------------------------------------------------------------------
    def leaderboard(self) -> Table:
        table = Table(title="leaderboard", title_justify="left", show_lines=False)
        for col, justify in (
            ("#", "right"),
            (self.plan.metric, "right"),
            ("state", "left"),
            ("time", "right"),
            ("params", "left"),
        ):
            table.add_column(col, justify=justify)
        running = [r for r in self.rows if r["state"] == "RUNNING"]
        # pruned and failed trials stay visible: the latest few, and all of them counted in the caption
        others = [r for r in self.rows if r["state"] in ("PRUNED", "FAIL")]
        own = [r for r in self.rows if r.get("duplicate_of") is None]
        counts = {s: sum(r["state"] == s for r in own) for s in ("COMPLETE", "PRUNED", "FAIL")}
        table.caption = "  ".join(f"{k.lower()} {v}" for k, v in counts.items())
        if len(own) < len(self.rows):
            table.caption += f"  duplicates {len(self.rows) - len(own)}"
        for r in ranked(self.rows, self.plan.direction)[: self.top] + others[-3:] + running:
            duration = f"{r['duration_s']:.1f}s" if r.get("duration_s") is not None else ""
            table.add_row(str(r["number"]), fmt(r["value"]), r["state"], duration, params_text(r["params"], 70))
        for number, info in self.current.items():
            if not any(r["number"] == number and r["state"] == "RUNNING" for r in self.rows):
                table.add_row(str(number), "-", "RUNNING", "", params_text(info["params"], 70))
        return table

    def _renderable(self):
        return Group(self.progress, self.leaderboard())

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._renderable())

    def final(self, summary: dict) -> None:
        counts = summary.get("counts", {})
        table = Table(title=f"kopt tune: {summary['study_name']}", show_header=False)
        table.add_column("", style="bold")
        table.add_column("")
        if summary.get("best_trial") is not None:
            table.add_row("best trial", f"#{summary['best_trial']}  {summary['metric']}={fmt(summary['best_value'])}")
            table.add_row("best params", params_text(summary.get("best_params") or {}, 100))
        else:
            table.add_row("best trial", "none (no trial completed)")
        trials = "  ".join(f"{k.lower()} {v}" for k, v in counts.items() if v or k in ("COMPLETE", "PRUNED", "FAIL"))
        if summary.get("duplicates"):
            trials += f"  duplicates {summary['duplicates']} (repeated configurations: reused, not trained)"
        table.add_row("trials", trials)
        if summary.get("stopped_early"):
            table.add_row("stopped", f"{summary['stopped_early']}")
        retrain = summary.get("retrain") or {}
        tested = retrain_score(summary.get("metric"), retrain.get("test") or {k: summary.get(k) for k in TESTED})
        if tested is not None:
            table.add_row(
                "retrained",
                f"{tested[0]}={fmt(tested[1])} ({retrain.get('epochs')} epochs on train+val, {retrain.get('run_dir')})",
            )
        if summary.get("pareto"):  # several objectives (kopt.tune.results.pareto)
            front = summary["pareto"].get("front") or []
            table.add_row(
                "Pareto front",
                f"{len(front)} trial(s): {', '.join(f'#{n}' for n in front)} (pareto.csv, pareto.png, pareto/)",
            )
        table.add_row("study dir", str(self.study_dir))
        table.add_row("storage", str(summary.get("storage")))
        if summary.get("best_trial") is not None:
            table.add_row("rerun best", f"kopt train --config-dir {self.study_dir} --config-name best")
        console.print(table)


TESTED = ("test_accuracy", "test_loss")  # what a study's summary.json holds of its retrain at the top level


def retrain_score(metric: str | None, scores: dict) -> tuple[str, float] | None:
    """The retrain's test score to show: the study metric's own (val_mae: test_mae), else its test
    accuracy, else its test loss; None where it has none (no retrain, or it failed)."""
    own = f"test_{metric[4:]}" if metric and metric.startswith("val_") else None
    for name in (own, *TESTED):
        if name and scores.get(name) is not None:
            return name, float(scores[name])
    return None
