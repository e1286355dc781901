"""Paper mode's download stage: fetch or locate the real datasets and CLIP weights, verify, extract.

Usage:
    python -m vifi download --dataset ucf101 --out data/raw/ucf101 [--manual-dir DIR] [--cache data/archives]
    python -m vifi download --weights ViT-B-16 --out checkpoints/pretrained/ViT-B-16.pt [--manual-dir DIR]
    python -m vifi download --list

Why and how it fetches: `vifi.data.acquire.download`.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from vifi.data.acquire.archives import ArchiveError
from vifi.data.acquire.download import (
    DEFAULT_CACHE,
    DownloadError,
    ManualPlacementError,
    fetch_dataset,
    fetch_weights,
    install_dataset,
)
from vifi.data.acquire.registry import Registry, RegistryError, load_registry

log = logging.getLogger(__name__)


def _describe(registry: Registry) -> str:
    lines = ["datasets:"]
    lines += [f"  {k:<12} {d.access:<8} {d.title} ({d.homepage})" for k, d in registry.datasets.items()]
    lines.append("weights:")
    lines += [f"  {k:<12} {w.arch:<8} {w.url}" for k, w in registry.weights.items()]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vifi download", description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--dataset", help="registry key of a dataset (see --list)")
    what.add_argument("--weights", help="registry key of a CLIP checkpoint (see --list)")
    what.add_argument("--list", action="store_true", help="list the registry's datasets and weights")
    parser.add_argument("--out", type=Path, help="dataset directory, or checkpoint file for --weights")
    parser.add_argument("--manual-dir", type=Path, help="directory holding files placed by hand")
    parser.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="archive cache (default: %(default)s)"
    )
    parser.add_argument("--registry", type=Path, help="registry YAML to use instead of the packaged one")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m vifi download`: fetch or locate, verify and extract one dataset, or fetch one checkpoint."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.list and args.out is None:
        parser.error("--out is required with --dataset and --weights")
    if args.manual_dir is not None and not args.manual_dir.is_dir():
        parser.error(f"--manual-dir {args.manual_dir} is not a directory")
    try:
        registry = load_registry(args.registry)
        if args.list:
            print(_describe(registry))
        elif args.weights:
            spec = registry.weight(args.weights)
            fetch_weights(spec, args.out, args.cache / "weights", args.manual_dir)
            log.info("%s ready at %s", spec.arch, args.out)
        else:
            dataset = registry.dataset(args.dataset)
            found = fetch_dataset(dataset, args.cache / dataset.key, args.manual_dir)
            install_dataset(dataset, found, args.out)
            log.info("%s ready at %s", dataset.title, args.out)
    except (DownloadError, ManualPlacementError, ArchiveError, RegistryError) as err:
        log.error("%s", err)
        return 1
    return 0
