"""Whether this machine can build the paper, without importing the report code.

Snakemake asks this every time it builds the DAG (to leave the PDF out of the default target when TeX is
missing), so it must stay cheap: no pandas or Jinja here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

TOOLS = ("latexmk", "pdflatex", "kpsewhich")
STYLES = ("booktabs.sty", "graphicx.sty")  # what the document and the generated tables load
INSTALL = "install latexmk and TeX Live (on Debian: scripts/system-deps.sh tex, as root)"


def missing_tex() -> str | None:
    """Why the PDF cannot be built here (a tool or LaTeX package not found), or None when it can."""
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        return f"{', '.join(absent)} not found; {INSTALL}"
    found = subprocess.run(["kpsewhich", *STYLES], capture_output=True, text=True, check=False).stdout
    absent = [style for style in STYLES if style not in {Path(line).name for line in found.splitlines()}]
    if absent:
        return f"LaTeX package(s) {', '.join(absent)} not found; {INSTALL}"
    return None
