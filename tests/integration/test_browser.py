"""The results page as a reader sees it: headless Chromium loads it, keeps every table and draws the figures."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from vifi.stages import index as index_stage

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
BROWSER = next((path for path in map(shutil.which, BROWSERS) if path), None)
pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason=f"no browser found ({', '.join(BROWSERS)}); on Debian `scripts/system-deps.sh browser` installs one",
)
TABLES = ("base2novel", "fewshot", "fullsup")
FIGURES = ("fewshot", "tsne")
ROWS = 3
WINDOW = (1280, 2400)
RED = "#ff0000"  # drawn only by the figures, so red pixels in the screenshot are the figures


class _Dom(HTMLParser):
    """From a DOM dump: the number of rows with data cells in each table, and the image sources."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[int] = []
        self.images: list[str] = []
        self.row_counted = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append(0)
        elif tag == "tr":
            self.row_counted = False
        elif tag == "td" and not self.row_counted:
            self.tables[-1] += 1
            self.row_counted = True
        elif tag == "img":
            self.images.append(dict(attrs).get("src") or "")


def _table(name: str) -> str:
    rows = "".join(
        f'<tr><th scope="row">method {i}</th><td>{50 + i}.0</td>'
        f'<td><a href="../runs/{name}/ucf101/vifi/seed{i}/metrics.json">seed{i}</a></td></tr>'
        for i in range(1, ROWS + 1)
    )
    return f"<table><caption>Demo run only: synthetic {name}.</caption><tbody>{rows}</tbody></table>\n"


def _figure(path: Path) -> None:
    fig = Figure(figsize=(6, 3), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.fill_between([0, 1, 2, 3], [1, 3, 2, 4], color=RED)
    fig.savefig(path)


def _page(root: Path) -> Path:
    """A results tree with tables, figures and one run per table, and the page built from it."""
    tables, figures, metrics = [], [], []
    for name in TABLES:
        tables.append(root / "tables" / f"{name}.html")
        tables[-1].parent.mkdir(parents=True, exist_ok=True)
        tables[-1].write_text(_table(name), encoding="utf-8")
        run = root / "runs" / name / "ucf101" / "vifi" / "seed1" / "metrics.json"
        run.parent.mkdir(parents=True)
        provenance = {"params": {}, "git_commit": "abc", "packages": {"torch": "2.14.1"}, "device": "cpu"}
        run.write_text(
            json.dumps(
                {
                    "protocol": name,
                    "dataset": "ucf101",
                    "method": "vifi",
                    "run": "seed1",
                    "provenance": provenance,
                }
            )
        )
        metrics.append(run)
    for name in FIGURES:
        figures.append(root / "figures" / f"{name}.png")
        figures[-1].parent.mkdir(parents=True, exist_ok=True)
        _figure(figures[-1])
    out = root / "index.html"
    args = ["--mode", "demo", "--out", str(out), "--tables", *map(str, tables), "--figures", *map(str, figures)]
    assert index_stage.main([*args, "--metrics", *map(str, metrics)]) == 0
    return out


def _browse(page: Path, profile: Path, *args: str) -> str:
    assert BROWSER is not None
    done = subprocess.run(
        [
            BROWSER,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            f"--user-data-dir={profile}",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_browser_renders_every_table_and_figure(tmp_path: Path) -> None:
    page = _page(tmp_path / "results")
    dom = _Dom()
    dom.feed(_browse(page, tmp_path / "profile", "--dump-dom"))
    # the inlined tables in order, then the provenance summary (commit, device, torch) and the run list
    assert dom.tables == [ROWS] * len(TABLES) + [3, len(TABLES)]
    assert len(dom.images) == len(FIGURES)
    assert all(src.startswith("data:image/png;base64,") for src in dom.images)


def test_screenshot_shows_the_page_and_its_figures(tmp_path: Path) -> None:
    page = _page(tmp_path / "results")
    shot = tmp_path / "page.png"
    _browse(page, tmp_path / "profile", f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}")
    assert shot.stat().st_size > 10_000
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    assert pixels.std() > 10  # text, tables and figures, not a blank page
    red = (pixels[..., 0] > 220) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    assert red.sum() > 5_000  # the embedded PNGs were decoded and drawn
