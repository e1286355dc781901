"""Every repository path that README.md and docs/*.md name exists, and the README's map links every page.

A path is named by a word of code (an inline span or a fenced block, such as the layout in architecture.md)
or by a Markdown link. Links are read from the page's own folder, as a Markdown viewer follows them; code from
the repository root. A word of code counts as a repository path when it has a `/` and its first part is a
top-level entry of the repository (`workflow/rules/`), or when it ends in a source extension: then it may
also be a module path inside the package (`data/framestore.py` is `src/vifi/data/framestore.py`). Other words
with a `/` are paths inside a dataset (`ucfTrainTestlist/`) or prose (`top-1/top-5`). A bare file name
(`grid.smk`) must be the name of some file of the repository. Placeholders (`<dataset>`, `*`, `{tex,html}`)
must match at least one file. Outputs the pipeline generates are git-ignored (`results/`, `paper/main.pdf`)
and are not looked for; URLs and absolute paths are not either.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PACKAGE = ROOT / "src/vifi"
FENCE = re.compile(r"^```[\w-]*\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")
SOURCE_EXTENSIONS = (".py", ".smk", ".md", ".sh", ".j2", ".toml", ".yaml", ".yml", ".lock", ".tex")
# A bare file name is checked only for the kinds of files the repository keeps; names such as `model.pt`,
# `labels.csv` or `dvc.lock` are outputs or files inside a dataset, and `ablation.yaml` one the reader writes.
BARE_EXTENSIONS = (".py", ".smk", ".sh", ".j2", ".md", ".toml")


def git_files() -> list[str]:
    """The repository's files, as a fresh clone would hold them (tracked, and new ones not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return listed.splitlines()


FILES = git_files()
TOP_LEVEL = {path.split("/")[0] for path in FILES}
FILE_NAMES = {Path(path).name for path in FILES}


def candidate(word: str) -> str | None:
    """The repository path a word of code names, or None when it names none."""
    word = re.sub(r":\d[\d-]*$", "", word.lstrip("('\"").rstrip(".,;:)'\""))  # `common.smk:194` is common.smk
    if not word or "://" in word or word.startswith(("/", "~", "$", "-")) or "=" in word:
        return None
    if "/" in word:
        known = word.split("/")[0] in TOP_LEVEL
        return word if known or word.rstrip("/").endswith(SOURCE_EXTENSIONS) else None
    return word if word.endswith(BARE_EXTENSIONS) else None


def named_paths(doc: Path) -> list[tuple[str, Path]]:
    """(path as written, where it is read from) for every path in the page's code and links."""
    text = doc.read_text(encoding="utf-8")
    prose = FENCE.sub("", text)
    code = FENCE.findall(text) + re.findall(r"`([^`]+)`", prose)  # a span may wrap a line
    words = (candidate(word) for block in code for word in block.split())
    found = [(word, ROOT) for word in words if word is not None]
    for target in LINK.findall(prose):
        path = target.split("#")[0]
        if path and "://" not in path and not path.startswith("mailto:"):
            found.append((path, doc.parent))
    return found


def ignored(paths: list[str]) -> set[str]:
    """The paths git ignores, as written: the pipeline's outputs."""
    proc = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        input="\n".join(paths), capture_output=True, text=True, cwd=ROOT, check=False,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return set(proc.stdout.splitlines())


def expansions(path: str) -> list[str]:
    """`a/{b,c}.x` -> `a/b.x`, `a/c.x` (one brace group at a time)."""
    match = re.search(r"\{([^{}]*,[^{}]*)\}", path)
    if not match:
        return [path]
    head, tail = path[: match.start()], path[match.end() :]
    return [variant for alt in match[1].split(",") for variant in expansions(head + alt + tail)]


def exists(path: str, base: Path) -> bool:
    """Whether `path` names a file or folder under `base`, placeholders standing for any name."""
    for variant in expansions(path):
        pattern = re.sub(r"<[^<>/]*>", "*", variant).rstrip("/")
        if "*" in pattern:
            if next(base.glob(pattern), None) is not None:
                return True
        elif (base / pattern).exists():
            return True
    return False


def found(path: str, base: Path, outputs: set[str]) -> bool:
    """Whether a named path exists (a generated output counts as existing)."""
    if base != ROOT:
        return exists(path, base)
    if "/" not in path:
        return path in FILE_NAMES
    if path.split("/")[0] in TOP_LEVEL:
        return path in outputs or exists(path, ROOT)
    return exists(path, ROOT) or exists(path, PACKAGE)


def missing(doc: Path) -> list[str]:
    """The paths the page names that do not exist."""
    named = named_paths(doc)
    outputs = ignored([path for path, base in named if base == ROOT and path.split("/")[0] in TOP_LEVEL])
    return sorted({path for path, base in named if not found(path, base, outputs)})


@pytest.mark.parametrize("doc", DOCS, ids=[d.relative_to(ROOT).as_posix() for d in DOCS])
def test_every_path_a_page_names_exists(doc: Path) -> None:
    assert missing(doc) == []


def test_the_pages_name_paths_at_all() -> None:
    """The patterns still find paths (a changed markup would otherwise pass every page silently)."""
    readme = {path for path, _ in named_paths(ROOT / "README.md")}
    assert {"docs/architecture.md", "workflow/profiles/default", ".ci/run"} <= readme
    architecture = {path for path, _ in named_paths(ROOT / "docs/architecture.md")}
    assert {"src/vifi/catalog/methods.yaml", "workflow/rules/grid.smk"} <= architecture


def test_a_stale_path_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "See `src/vifi/data/no_such_module.py`, `workflow/rules/*.nope`, `gone.smk`, [a](no-such-page.md),\n"
        "but not `results/runs/<protocol>/`, `ucfTrainTestlist/`, `top-1/top-5` or https://example.org/x.py.\n"
        "```\nsrc/vifi/report/    tables.py, gone_too.py, data/frames/store.py, data/gone.py\n```\n",
        encoding="utf-8",
    )
    assert missing(page) == [
        "data/gone.py", "gone.smk", "gone_too.py", "no-such-page.md", "src/vifi/data/no_such_module.py",
        "workflow/rules/*.nope",
    ]  # fmt: skip


def test_the_readme_map_links_every_docs_page() -> None:
    linked = set(LINK.findall((ROOT / "README.md").read_text(encoding="utf-8")))
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert pages - linked == set()
