#!/usr/bin/env bash
# Install the Debian packages behind optional parts of the project:
#   tex      latexmk and a minimal TeX Live (booktabs, graphicx) to build paper/main.pdf;
#   browser  headless Chromium, for the test that renders results/index.html;
#   slurm    SLURM with accounting (slurmdbd on MariaDB) and munge, for the tests that start a one-node
#            cluster (scripts/slurm-local.sh, tests/integration/test_slurm.py);
#   ffmpeg   FFmpeg's shared libraries, which torchcodec loads (benchmarks/decoders.py compares it with the
#            extraction decoders; PyAV and decord bring their own FFmpeg).
# Usage: scripts/system-deps.sh [tex] [browser] [slurm] [ffmpeg]   (tex and browser when none is named)
#
# Only packages that are missing are installed, and only by root with apt-get; anyone else is told what to
# install and the script exits 0: the paper rule is then left out of the default target and the tests that
# need these tools skip, saying why. Recommended packages are not installed (they would triple the download).
# Under CI (CI=true) a failed install is an error, so that a green CI has really run those tests; elsewhere
# it is a warning, so that an offline machine can still run everything else.
set -euo pipefail

if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"  # the comment block above
    exit 0
fi

declare -A PACKAGES_OF=(
    [tex]="latexmk texlive-latex-base texlive-latex-recommended"
    [browser]="chromium fonts-dejavu-core"
    [slurm]="slurmctld slurmd slurm-client slurmdbd munge mariadb-server"
    [ffmpeg]="ffmpeg"
)

wanted=()
for group in "${@:-tex browser}"; do
    for name in $group; do
        if [[ -z "${PACKAGES_OF[$name]:-}" ]]; then
            echo "system-deps: unknown group '$name' (known: ${!PACKAGES_OF[*]})" >&2
            exit 2
        fi
        read -ra packages <<<"${PACKAGES_OF[$name]}"
        wanted+=("${packages[@]}")
    done
done

missing=()
for package in "${wanted[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
    [[ "$status" == installed ]] || missing+=("$package")
done
((${#missing[@]} == 0)) && exit 0

if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
    echo "system-deps: missing Debian packages: ${missing[*]}"
    echo "system-deps: install them with: sudo apt-get install --no-install-recommends ${missing[*]}"
    echo "system-deps: until then what needs them is left out (paper PDF, tests, torchcodec in benchmarks)"
    exit 0
fi

echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
    echo "system-deps: apt-get could not install ${missing[*]}" >&2
    [[ "${CI:-}" == true ]] && exit 1
    echo "system-deps: continuing without them; what needs them is left out (paper PDF, tests, torchcodec)"
fi
