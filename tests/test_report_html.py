"""`kopt report --html`: one self-contained page for a study and a k-fold run, read as a file and
opened in headless Chromium (Debian's chromium and chromium-driver, installed by .ci/run)."""

from __future__ import annotations

import html as htmllib
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, TINY, run_kopt

ARTIFACTS = ROOT / "runs" / "test-artifacts" / "report-html"
STUDY = [
    *TINY,
    "trainer.epochs=2",
    "model.depth=1",
    "'search.model.width=choice(8,16)'",
    "search.optimizer.lr=tag(log, interval(1e-3, 1e-1))",
    "tuner.n_trials=3",
]


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(the page, the study dir, the k-fold run dir) from one tiny study and one 2-fold run."""
    cwd = tmp_path_factory.mktemp("html")
    args = [a.strip("'") for a in STUDY]
    tune = run_kopt("tune", *args, cwd=cwd)
    assert tune.returncode == 0, tune.stderr[-3000:]
    train = run_kopt("train", *TINY, "split=kfold", "split.k=2", "name=two-folds", cwd=cwd)
    assert train.returncode == 0, train.stderr[-3000:]
    study_dir = next((cwd / "runs" / "tune").iterdir())
    run_dir = next((cwd / "runs" / "train").iterdir())
    out = cwd / "page.html"
    proc = run_kopt("report", str(study_dir), str(run_dir), "--html", str(out), cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"wrote {out}" in proc.stdout.replace("\n", "")
    return out, study_dir, run_dir


def _boards(text: str) -> list[list[list[str]]]:
    """The leaderboards of the page: rows of cell texts, the header first."""
    tables = re.findall(r'<table class="board">(.*?)</table>', text, re.S)
    out = []
    for t in tables:
        rows = re.findall(r"<tr[^>]*>(.*?)</tr>", t, re.S)
        out.append([[htmllib.unescape(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, re.S)] for r in rows])
    return out


def test_the_page_needs_no_network_and_holds_every_trial_rounded_with_the_best_marked(page):
    out, study_dir, _ = page
    text = out.read_text()
    assert not re.search(r"<script[^>]+src=", text), "every script must be inline"
    assert not re.search(r"<link[^>]+href=", text), "every style must be inline"
    assert "Plotly.newPlot" in text and len(re.findall(r"plotly\.js v\d", text)) == 1, "plotly.js inlined once"
    summary = json.loads((study_dir / "summary.json").read_text())
    trials, runs = _boards(text)
    header, *rows = trials
    assert [r[0].lstrip("★ ") for r in rows] == [str(n) for n in range(3)]
    best = [r for r in rows if r[0].startswith("★")]
    assert len(best) == 1 and best[0][0] == f"★ {summary['best_trial']}"
    value = rows[summary["best_trial"]][header.index(summary["metric"])]
    assert value == f"{summary['best_value']:.4g}"
    lr = [r[header.index("optimizer.lr")] for r in rows]
    assert all(len(re.sub(r"[^0-9]", "", v.split("e")[0]).lstrip("0")) <= 4 for v in lr), lr
    assert f"Retrain of trial {summary['retrain']['trial']}" in text
    assert f"test_accuracy: {summary['retrain']['test_accuracy']:.4g}" in text
    run_header, run_row = runs
    assert run_row[run_header.index("status")] == "completed"
    for title in ("Optimisation history", "Parallel coordinates", "Parameter importances (3 completed trials)"):
        assert f"<h2>{title}</h2>" in text
    assert "fold 1" in text, "the k-fold run's curves are drawn per fold"


def test_html_needs_an_html_file_name(tmp_path):
    (tmp_path / "runs").mkdir()
    proc = run_kopt("report", "--html", str(tmp_path / "page.png"), cwd=tmp_path)
    assert proc.returncode == 2 and "--html" in proc.stderr and "Traceback" not in proc.stderr


def _driver():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if chromium is None or not Path(chromedriver).exists():
        pytest.skip("headless Chromium is not installed (.ci/run installs chromium and chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service

    return webdriver.Chrome(service=Service(chromedriver), options=options)


def _inked(png: bytes) -> float:
    """The share of pixels that are not the page's white."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    pixels = list(image.getdata())
    return sum(1 for p in pixels if p < 235) / max(len(pixels), 1)


def test_the_page_in_chromium_draws_every_chart_sorts_and_logs_no_error(page):
    out, study_dir, _ = page
    driver = _driver()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        driver.get(out.resolve().as_uri())
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        charts = driver.find_elements(By.CSS_SELECTOR, "div.chart")
        assert len(charts) >= 5, len(charts)
        WebDriverWait(driver, 60).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "div.chart .main-svg")) >= len(charts)
        )
        driver.save_screenshot(str(ARTIFACTS / "page.png"))
        for index, chart in enumerate(charts):
            driver.execute_script("arguments[0].scrollIntoView();", chart)
            png = chart.screenshot_as_png
            (ARTIFACTS / f"chart-{index}.png").write_bytes(png)
            assert _inked(png) > 0.01, f"chart {index} looks blank"

        table = driver.find_elements(By.CSS_SELECTOR, "table.board")[0]
        headers = [th.text for th in table.find_elements(By.CSS_SELECTOR, "th")]
        metric = json.loads((study_dir / "summary.json").read_text())["metric"]
        column = headers.index(metric)

        def values() -> list[float]:
            cells = [
                r.find_elements(By.TAG_NAME, "td")[column] for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")
            ]
            return [float(c.get_attribute("data-v")) for c in cells if c.get_attribute("data-v")]

        th = table.find_elements(By.CSS_SELECTOR, "th")[column]
        th.click()
        assert values() == sorted(values())
        th.click()
        assert values() == sorted(values(), reverse=True)
        driver.save_screenshot(str(ARTIFACTS / "sorted.png"))
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        assert errors == [], errors
    finally:
        driver.quit()


def test_a_two_objective_study_has_its_pareto_front_and_names_its_objectives(tmp_path):
    # 2 one-epoch trials: a front, and a page of the study's charts (every front member is retrained)
    args = [a.strip("'") for a in STUDY if not a.startswith(("tuner.n_trials", "trainer.epochs"))]
    objectives = "tuner.objectives=[val_accuracy:max,params:min]"
    tune = run_kopt("tune", *args, "tuner.n_trials=2", "trainer.epochs=1", objectives, cwd=tmp_path)
    assert tune.returncode == 0, tune.stderr[-3000:]
    study_dir = next((tmp_path / "runs" / "tune").iterdir())
    proc = run_kopt("report", str(study_dir), "--html", "two.html", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Warning" not in proc.stderr, proc.stderr
    text = (tmp_path / "two.html").read_text()
    header = _boards(text)[0][0]
    assert header[2:4] == ["val_accuracy", "params"], header
    assert "<h2>Pareto front</h2>" in text and "★" not in text  # several objectives: no single best
