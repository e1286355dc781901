"""The results page: self-contained, every table and figure inlined, links rebased, provenance escaped."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from vifi.report import index
from vifi.stages import index as index_stage

PNG = (  # a valid 1x1 PNG; the page embeds the bytes as they are
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)
FRAGMENT = """<table>
<caption>Demo run only: synthetic {name} &amp; friends &plusmn;</caption>
<tr><th scope="row">UCF-101</th><td>61.2</td>
<td><a href="../runs/{name}/ucf101/vifi/seed1/metrics.json">seed1</a> <a href="#notes">notes</a></td></tr>
</table>
"""
# A whole page, as `vifi render` may write: only its body content may reach the index.
PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title>
<link rel="stylesheet" href="https://cdn.example.org/x.css"><style>td {{ color: red }}</style></head>
<body><!-- generated --><script src="https://cdn.example.org/x.js"></script>
<link rel="stylesheet" href="https://cdn.example.org/y.css">{fragment}</body></html>
"""
HOSTILE = "</code><script>alert('x')</script>"


class _Tags(HTMLParser):
    """Every start tag of a page with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def _run(root: Path, protocol: str, run: str, *, commit: str = "abc123", torch: str = "2.14.1") -> Path:
    path = root / "runs" / protocol / "ucf101" / "vifi" / run / "metrics.json"
    path.parent.mkdir(parents=True)
    provenance = {
        "params": {"seed": run, "note": HOSTILE},
        "git_commit": commit,
        "packages": {"torch": torch, "numpy": "2.4.6"},
        "device": "cpu (2 threads)",
        "created": "2026-01-01T00:00:00+00:00",
    }
    record = {"protocol": protocol, "dataset": "ucf101", "method": "vifi", "run": run, "provenance": provenance}
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


@pytest.fixture
def results(tmp_path: Path) -> dict[str, list[Path]]:
    """A results tree: a fragment and a whole-page table, two figures, two runs (different torch versions)."""
    root = tmp_path / "results"
    (root / "tables").mkdir(parents=True)
    (root / "figures").mkdir()
    tables = [root / "tables" / "base2novel.html", root / "tables" / "fewshot.html"]
    tables[0].write_text(FRAGMENT.format(name="base2novel"), encoding="utf-8")
    tables[1].write_text(PAGE.format(fragment=FRAGMENT.format(name="fewshot")), encoding="utf-8")
    figures = [root / "figures" / "fewshot.png", root / "figures" / "tsne.png"]
    for figure in figures:
        figure.write_bytes(PNG)
    metrics = [_run(root, "base2novel", "seed1"), _run(root, "fewshot", "seed1", torch="2.13.0")]
    return {"tables": tables, "figures": figures, "metrics": metrics}


def _args(results: dict[str, list[Path]], out: Path, mode: str = "demo") -> list[str]:
    args = ["--mode", mode, "--out", str(out)]
    for flag, paths in results.items():
        args += [f"--{flag}", *map(str, paths)]
    return args


def _build(results: dict[str, list[Path]], out: Path, mode: str = "demo") -> str:
    assert index_stage.main(_args(results, out, mode)) == 0
    return out.read_text(encoding="utf-8")


def test_page_is_self_contained_with_rebased_run_links(results: dict[str, list[Path]], tmp_path: Path) -> None:
    out = tmp_path / "results" / "index.html"
    tags = _parse(_build(results, out)).tags
    names = [tag for tag, _ in tags]
    assert "script" not in names and "link" not in names and "base" not in names
    assert names.count("style") == 1
    assert all(attrs["src"].startswith("data:image/png;base64,") for tag, attrs in tags if "src" in attrs)
    hrefs = [attrs["href"] for _, attrs in tags if attrs.get("href") and not attrs["href"].startswith("#")]
    # two table links and two run-list links, each to a metrics.json that exists beside the page
    assert len(hrefs) == 4
    assert all((out.parent / unquote(href)).is_file() for href in hrefs), hrefs


def test_page_has_every_table_and_figure(results: dict[str, list[Path]], tmp_path: Path) -> None:
    page = _build(results, tmp_path / "results" / "index.html")
    parsed = _parse(page)
    ids = {attrs.get("id") for _, attrs in parsed.tags}
    assert {"table-base2novel", "table-fewshot", "figure-fewshot", "figure-tsne"} <= ids
    text = "".join(parsed.text)
    assert "synthetic base2novel & friends ±" in text and "synthetic fewshot & friends ±" in text
    assert "color: red" not in page  # the whole-page table's own style stayed out
    images = [attrs["src"] for tag, attrs in parsed.tags if tag == "img"]
    assert len(images) == 2
    assert all(base64.b64decode(src.split(",", 1)[1]) == PNG for src in images)


def test_mode_is_stated_at_the_top(results: dict[str, list[Path]], tmp_path: Path) -> None:
    demo = _build(results, tmp_path / "results" / "demo.html")
    paper = _build(results, tmp_path / "results" / "paper.html", mode="paper")
    assert "Demo mode." in demo[: demo.index("<main>")] and "Paper mode." not in demo
    assert "Paper mode." in paper[: paper.index("<main>")] and "Demo mode." not in paper


def test_provenance_is_listed_and_escaped(results: dict[str, list[Path]], tmp_path: Path) -> None:
    bad = _run(tmp_path / "results", "zeroshot", "main", commit=HOSTILE)
    results["metrics"].append(bad)
    page = _build(results, tmp_path / "results" / "index.html")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "abc123" in page
    text = "".join(_parse(page).text)
    assert "2.14.1 (2 runs), 2.13.0 (1 run)" in text  # mixed versions are shown with their counts
    digest = index.params_digest({"seed": "seed1", "note": HOSTILE})
    assert digest == index.params_digest({"note": HOSTILE, "seed": "seed1"})  # key order is not a setting
    assert text.count(digest) == 2 and index.params_digest({"seed": "main", "note": HOSTILE}) in text


@pytest.mark.parametrize(
    ("kind", "content", "message"),
    [
        ("tables", "<p>no table here</p>", "no <table> element"),
        ("figures", "GIF89a", "not a PNG file"),
        ("metrics", '{"protocol": "fewshot", "provenance": {}}', "missing key(s) dataset, method, run"),
    ],
)
def test_bad_input_is_named_and_nothing_is_written(
    results: dict[str, list[Path]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    content: str,
    message: str,
) -> None:
    bad = tmp_path / f"bad.{kind}"
    bad.write_text(content, encoding="utf-8")
    results[kind].append(bad)
    out = tmp_path / "results" / "index.html"
    assert index_stage.main(_args(results, out)) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and message in err
    assert not out.exists()


def test_missing_provenance_key_is_named(tmp_path: Path) -> None:
    path = _run(tmp_path, "fewshot", "2shot")
    record = json.loads(path.read_text(encoding="utf-8"))
    del record["provenance"]["git_commit"]
    path.write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(index.PageError, match=r"metrics\.json: missing key\(s\) provenance\.git_commit"):
        index.read_run(path, tmp_path)


def test_rebase_moves_only_relative_links() -> None:
    assert index.rebase("../runs/a%20b/metrics.json?x=1#top", "tables") == "runs/a%20b/metrics.json?x=1#top"
    for url in ("https://example.org/a", "/abs/path", "#anchor", "mailto:a@b.c"):
        assert index.rebase(url, "tables") == url
