"""The report PDF: paper/main.tex compiles with latexmk from generated tables and figures, and fails loudly."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vifi.report import paper
from vifi.report.tables import TABLES
from vifi.stages import paper as paper_stage

DOCUMENT = Path(__file__).resolve().parents[2] / "paper" / "main.tex"
NO_TEX = paper.missing_tex()
needs_tex = pytest.mark.skipif(NO_TEX is not None, reason=f"no TeX to build the paper: {NO_TEX}")
# The figure files the workflow makes: one per kind, curves per protocol, t-SNE per target dataset.
FIGURES = ("fewshot", "base2novel", "tsne_ucf101", "curves_base2novel", "curves_fewshot", "curves_fullsup")

# What `python -m vifi render` writes: a booktabs table float, with grouped headers, bold best values, a spread.
TABLE = r"""\begin{table}[t]
\centering
\caption{Demo run only: synthetic %s table.}
\begin{tabular}{llcc}
\toprule
 & & \multicolumn{2}{c}{Top-1} \\
\cmidrule(lr){3-4}
Dataset & Method & Base & Novel \\
\midrule
UCF-101 & ViFi-CLIP & \textbf{61.2} $\pm$ 1.3 & 40.0 \\
 & Vanilla CLIP & 50.0 & \textbf{45.5} \\
\bottomrule
\end{tabular}
\end{table}
"""


def _project(root: Path, tables: tuple[str, ...] = tuple(TABLES)) -> list[str]:
    """A repository-like tree: the real document and generated tables and figures; the build's arguments."""
    (root / "paper").mkdir()
    shutil.copy(DOCUMENT, root / "paper" / "main.tex")
    (root / "results" / "tables").mkdir(parents=True)
    (root / "results" / "figures").mkdir()
    for name in tables:
        (root / "results" / "tables" / f"{name}.tex").write_text(TABLE % name.replace("_", r"\_"))
    for name in FIGURES:
        fig = Figure(figsize=(4, 2))
        FigureCanvasAgg(fig)
        fig.subplots().plot([0, 1, 2], [1, 0, 2])
        fig.savefig(root / "results" / "figures" / f"{name}.pdf")
    return [
        "--tex=paper/main.tex",
        "--out=paper/main.pdf",
        "--tables",
        *(f"results/tables/{name}.tex" for name in tables),
        "--figures",
        *(f"results/figures/{name}.pdf" for name in FIGURES),
    ]


def test_document_has_a_section_for_every_protocol() -> None:
    sections = re.findall(r"^\\resultsection\{(\w+)\}", DOCUMENT.read_text(encoding="utf-8"), re.MULTILINE)
    assert sections == list(paper.SECTIONS)


def test_results_group_tables_and_figures_by_protocol() -> None:
    tables = [Path("results/tables/prompting.tex"), Path("results/tables/zeroshot.tex")]
    figures = [Path("results/figures/curves_base2novel.pdf"), Path("results/figures/tsne_ucf101.pdf")]
    tex = paper.results_tex(tables, figures)
    assert re.findall(r"^\\results\{(\w+)\}", tex, re.MULTILINE) == ["zeroshot", "base2novel"]
    zeroshot, base2novel = tex.split("\\results{")[1:]
    assert "\\input{results/tables/zeroshot.tex}" in zeroshot
    assert "\\resultfigure{results/figures/tsne_ucf101.pdf}{Video embeddings: UCF-101. t-SNE" in zeroshot
    assert base2novel.index("prompting.tex") < base2novel.index("curves_base2novel.pdf")  # tables first


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("results/tables/ablation.tex", "unknown table 'ablation'"),
        ("results/figures/roc.pdf", "which protocol's section shows figure 'roc'"),
        ("results/figures/curves_pretrain.pdf", "which protocol's section shows figure 'curves_pretrain'"),
        ("results/tables 50%/zeroshot.tex", "only letters, digits"),
    ],
)
def test_unplaceable_input_is_named(path: str, message: str) -> None:
    tables, figures = ([Path(path)], []) if path.endswith(".tex") else ([], [Path(path)])
    with pytest.raises(paper.PaperError, match=re.escape(f"{path}: ") + ".*" + re.escape(message)):
        paper.results_tex(tables, figures)


@needs_tex
def test_paper_builds_from_generated_tables_and_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _project(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert paper_stage.main(args) == 0
    pdf = (tmp_path / "paper" / "main.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert b"%%EOF" in pdf[-64:]
    assert sorted(p.name for p in (tmp_path / "paper").iterdir()) == ["main.pdf", "main.tex"]  # no aux files


@needs_tex
def test_missing_table_fails_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    args = _project(tmp_path, tables=("base2novel", "fewshot"))
    (tmp_path / "results" / "tables" / "fewshot.tex").unlink()
    monkeypatch.chdir(tmp_path)
    assert paper_stage.main(args) == 1
    out, err = capfd.readouterr()
    assert "results/tables/fewshot.tex' not found" in out
    assert "latexmk failed" in err
    assert not (tmp_path / "paper" / "main.pdf").exists()


def test_missing_tex_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    reason = paper.missing_tex()
    assert reason is not None and "latexmk" in reason and "system-deps.sh tex" in reason
    assert paper_stage.main(["--tex", str(DOCUMENT), "--out", str(tmp_path / "main.pdf")]) == 1
    assert reason in capsys.readouterr().err
    assert not (tmp_path / "main.pdf").exists()
