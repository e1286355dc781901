"""`vifi predict`: print the top classes of video files under a trained model.

Usage:
    vifi predict VIDEO... --labels "archery,bowling,juggling" [--checkpoint model.pt] [--top-k 5] [--json]
    vifi predict VIDEO... --labels-file labels.csv ...

How a video is read so that a prediction matches `vifi evaluate`: `vifi.engine.predict`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Collection, Sequence
from pathlib import Path

from vifi.catalog import methods as method_catalog
from vifi.data.frames.transforms import NORMALIZATION
from vifi.engine import predict
from vifi.engine.devices import pick_device
from vifi.engine.predict import (
    DEMO_CHECKPOINT,
    PRETRAINED_CHECKPOINT,
    LabelError,
    check_labels,
    format_record,
    labels_from_file,
    load_predictor,
    predict_all,
    quiet_logs,
    resolve_checkpoint,
)
from vifi.models.factory import ModelSpec
from vifi.models.pretrained import OPENAI_ARCH, WeightsError
from vifi.stages.argtypes import int_at_least

DASH_HELP = """\
videos whose names begin with '-':
  an existing file such as --coBvtS-eQ_000010_000020.mp4 (a Kinetics id) is read as a video, not an option;
  '--' ends the options, and every argument after it is a video:
    vifi predict --labels archery,bowling -- --coBvtS-eQ_000010_000020.mp4 -not-yet-there.mp4
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vifi predict",
        description=predict.__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=DASH_HELP,
    )
    p.add_argument(
        "videos", type=Path, nargs="+", metavar="VIDEO", help="video files to classify (names with '-': below)"
    )
    names = p.add_mutually_exclusive_group(required=True)
    names.add_argument("--labels", help='comma-separated class names, e.g. "archery,bowling,juggling"')
    names.add_argument(
        "--labels-file", type=Path, help="an id,name label CSV (.csv) or a text file with one class name a line"
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        help=f"model weights (default: {DEMO_CHECKPOINT} if present, else {PRETRAINED_CHECKPOINT} as "
        "vanilla CLIP)",
    )
    p.add_argument(
        "--arch",
        default="vifi-tiny",
        help=f"open_clip architecture of the checkpoint, or {OPENAI_ARCH!r}: the one an OpenAI-format file has",
    )
    plain = [
        code for code, m in method_catalog.methods().items() if not m.options
    ]  # no architecture flags here
    p.add_argument("--method", choices=plain, default="vifi", help="what was fine-tuned; sets the prompt")
    p.add_argument("--num-frames", type=int_at_least(1), default=4, help="frames sampled per video")
    p.add_argument("--normalize", choices=sorted(NORMALIZATION), default="imagenet", help="pixel statistics")
    p.add_argument("--top-k", type=int_at_least(1), default=5, help="classes shown per video")
    p.add_argument("--json", action="store_true", help="print one JSON list of records instead of tables")
    return p


def shield_dash_videos(argv: Sequence[str], options: Collection[str]) -> list[str]:
    """`argv` with `./` before each video path that argparse would take for an option, and without `--`.

    Those are every argument after `--` (the end of options) that begins with `-`, and before it every
    existing file whose name begins with `-` and is not one of `options` (Kinetics ids such as
    `--coBvtS-eQ_000010_000020.mp4`). The prefix changes nothing else: `Path("./-a.mp4")` is `-a.mp4`.
    """
    shielded = []
    for i, arg in enumerate(argv):
        if arg == "--":
            return shielded + [f"./{a}" if a.startswith("-") else a for a in argv[i + 1 :]]
        option = arg.split("=", 1)[0] in options
        shielded.append(f"./{arg}" if arg.startswith("-") and not option and Path(arg).is_file() else arg)
    return shielded


def main(argv: Sequence[str] | None = None) -> int:
    """`vifi predict`: exit 1 if any video failed, 0 if all were scored; bad labels or weights exit 2."""
    parser = build_parser()
    options = {name for action in parser._actions for name in action.option_strings}
    argv = sys.argv[1:] if argv is None else argv
    # Intermixed: videos may come before and after the options, as `--` leaves them after.
    args = parser.parse_intermixed_args(shield_dash_videos(argv, options))
    try:
        if args.labels is not None:
            classnames = check_labels(args.labels.split(","), "--labels")
        else:
            classnames = labels_from_file(args.labels_file)
        weights, method = resolve_checkpoint(args.checkpoint, args.method)
        spec = ModelSpec(method, args.arch, args.num_frames)
        with quiet_logs():
            predictor = load_predictor(spec, weights, classnames, args.normalize, pick_device())
    except (LabelError, WeightsError) as err:
        parser.error(str(err))
    records = []
    for record in predict_all(predictor, args.videos, args.top_k):
        records.append(record)
        if "error" in record:
            print(f"vifi predict: {record['error']}", file=sys.stderr)
        elif not args.json:
            print(format_record(record), flush=True)
    if args.json:
        print(json.dumps(records, indent=2))
    return int(any("error" in record for record in records))
