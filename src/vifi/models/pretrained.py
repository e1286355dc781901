"""Build open_clip models by name and load CLIP weights from a local path.

Paper mode and demo mode go through the same two functions: `build_clip` (any open_clip architecture, plus the
demo's small configs shipped in `configs/`, or `openai`: whatever architecture an OpenAI-format checkpoint
holds) and `load_weights` (a state dict on disk). Nothing is fetched from a hub: the GPU box and CI have no
network, and a silent download would hide which weights were used.
"""

from __future__ import annotations

import logging
import math
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import open_clip
import torch
from torch import nn

from vifi.io import atomic_path

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).parent / "configs"
# Scalars that OpenAI checkpoints store next to the weights; they are not parameters.
_NON_PARAMETER_KEYS = ("input_resolution", "context_length", "vocab_size")
_registered = False
# The `--arch` (and `model.arch`) value that reads the architecture from the checkpoint's tensor shapes.
OPENAI_ARCH = "openai"
# OpenAI's CLIPs use 64-dimensional attention heads in both towers; head counts are stored nowhere else.
OPENAI_HEAD_WIDTH = 64
# Where a checkpoint may hold the CLIP: at the top (CLIP methods, OpenAI files) or under EVL's `clip.`.
_CLIP_PREFIXES = ("", "clip.")


class WeightsError(RuntimeError):
    """A checkpoint cannot be used for the requested architecture; the message names the file."""


def _register_configs() -> None:
    """Make the demo's architectures (e.g. `vifi-tiny`) known to open_clip's factory, once per process."""
    global _registered
    if not _registered:
        open_clip.add_model_config(CONFIG_DIR)
        _registered = True


class _DropRandomInitWarning(logging.Filter):
    """open_clip warns that a model built without a pretrained tag is random; `load_weights` follows at once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No pretrained weights loaded for model")


def build_clip(
    arch: str, weights: str | Path | None = None
) -> tuple[nn.Module, open_clip.tokenizer.SimpleTokenizer]:
    """Create a randomly initialised open_clip CLIP and its tokenizer, without touching the network.

    With `arch="openai"` the architecture is the one the checkpoint `weights` holds (`openai_config`), so any
    OpenAI-format CLIP loads by its path alone, without a config file for its size.
    """
    if arch == OPENAI_ARCH:
        if weights is None:
            raise WeightsError(f"--arch {OPENAI_ARCH} reads the architecture from a checkpoint; none was given")
        config = openai_config(read_state_dict(weights), str(weights))
        context = config["text_cfg"]["context_length"]
        return open_clip.CLIP(**config), open_clip.tokenizer.SimpleTokenizer(context_length=context)
    _register_configs()
    if arch not in open_clip.list_models():
        raise WeightsError(f"unknown open_clip architecture {arch!r}; choose one of open_clip.list_models()")
    quiet = _DropRandomInitWarning()
    logging.getLogger().addFilter(quiet)
    try:
        model = open_clip.create_model(arch, pretrained=None)
    finally:
        logging.getLogger().removeFilter(quiet)
    return model, open_clip.get_tokenizer(arch)


def _is_torchscript(path: Path) -> bool:
    """OpenAI's released CLIP files are TorchScript archives: zips with a `code/` folder and `constants.pkl`."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(n.endswith("/constants.pkl") or "/code/" in n for n in archive.namelist())


def _load_torchscript(path: Path) -> dict[str, torch.Tensor]:
    """Parameters of a TorchScript archive. Only its tensors are read; its code is never called."""
    try:
        return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    except Exception as err:  # TorchScript raises RuntimeError subclasses with long C++ traces
        raise WeightsError(f"{path}: unreadable TorchScript archive ({str(err).splitlines()[0]})") from err


def _load_pickle(path: Path) -> object:
    """A pickled checkpoint read with `weights_only=True`, so opening it cannot run code."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise WeightsError(f"{path}: cannot be read as a weights-only torch checkpoint ({err})") from err


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """CLIP weights from an OpenAI TorchScript archive, an OpenAI state dict or an open_clip checkpoint.

    open_clip training checkpoints wrap the weights as `{"state_dict": {"module.…": …}, "optimizer": …}`;
    OpenAI state dicts carry three scalars (`input_resolution`, `context_length`, `vocab_size`) that are
    not parameters. Both are normalised to open_clip's parameter names.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: checkpoint not found")
    obj = _load_torchscript(path) if _is_torchscript(path) else _load_pickle(path)
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: expected a state dict of tensors (or a dict with a 'state_dict' key)")
    return {k.removeprefix("module."): v for k, v in state.items() if k not in _NON_PARAMETER_KEYS}


def _clip_state(state: Mapping[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """The CLIP's tensors under their own names, wherever the checkpoint keeps them (`_CLIP_PREFIXES`)."""
    for prefix in _CLIP_PREFIXES:
        if f"{prefix}text_projection" in state:
            return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    raise WeightsError(f"{source}: no `text_projection`: not an OpenAI-format CLIP state dict")


def _block_count(state: Mapping[str, torch.Tensor], tower: str) -> int:
    """Transformer blocks of one tower (`visual.transformer` or `transformer`), from their key indices."""
    pattern = re.compile(rf"{re.escape(tower)}\.resblocks\.(\d+)\.")
    return len({match[1] for key in state if (match := pattern.match(key))})


def _check_heads(width: int, tower: str, source: str) -> None:
    """A tower's width must split into OpenAI's heads, or the inferred model would not be the saved one."""
    if width % OPENAI_HEAD_WIDTH:
        raise WeightsError(
            f"{source}: {tower} width {width} is not a multiple of OpenAI's head width {OPENAI_HEAD_WIDTH}; "
            "name the open_clip architecture instead of --arch openai"
        )


def openai_config(state: Mapping[str, torch.Tensor], source: str) -> dict:
    """The open_clip model config of an OpenAI-format CLIP state dict, read from its tensor shapes.

    This is the inference of open_clip's OpenAI loader (`build_model_from_openai_state_dict`): widths, depths,
    patch, input and embedding sizes, context length and vocabulary come from shapes and key indices; head
    counts are stored nowhere, so OpenAI's 64-dimensional heads and QuickGELU are assumed. Unlike that loader,
    nothing is cast to float16: the model is built in float32 and loaded strictly like any other. ResNet image
    towers are refused: the video models read a ViT's tokens.
    """
    clip = _clip_state(state, source)
    if "visual.proj" not in clip:
        raise WeightsError(f"{source}: no `visual.proj`: a ResNet image tower; the video models need a ViT")
    try:
        width, _, patch, _ = clip["visual.conv1.weight"].shape
        tokens = clip["visual.positional_embedding"].shape[0]
        context, text_width = clip["positional_embedding"].shape
        vocab = clip["token_embedding.weight"].shape[0]
        embed_dim = clip["text_projection"].shape[1]
    except KeyError as err:
        raise WeightsError(f"{source}: an OpenAI-format CLIP needs the tensor {err}") from err
    grid = math.isqrt(tokens - 1)
    if grid * grid != tokens - 1:
        raise WeightsError(f"{source}: {tokens} visual positions are not a square grid plus the class token")
    _check_heads(width, "image tower", source)
    _check_heads(text_width, "text tower", source)
    known = len(open_clip.tokenizer.SimpleTokenizer().encoder)
    if vocab != known:
        raise WeightsError(f"{source}: a vocabulary of {vocab} tokens; the CLIP tokenizer has {known}")
    return {
        "embed_dim": embed_dim,
        "quick_gelu": True,
        "vision_cfg": {
            "image_size": patch * grid,
            "layers": _block_count(clip, "visual.transformer"),
            "width": width,
            "head_width": OPENAI_HEAD_WIDTH,
            "patch_size": patch,
        },
        "text_cfg": {
            "context_length": context,
            "vocab_size": vocab,
            "width": text_width,
            "heads": text_width // OPENAI_HEAD_WIDTH,
            "layers": _block_count(clip, "transformer"),
        },
    }


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load weights strictly; missing or unexpected keys are reported by name instead of going by silently."""
    state = read_state_dict(path)
    expected = model.state_dict()
    # TorchScript archives also store buffers the model rebuilds itself (e.g. the causal `attn_mask`).
    rebuilt = {name for name, _ in model.named_buffers()} - set(expected)
    state = {k: v for k, v in state.items() if k not in rebuilt}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [k for k in set(expected) & set(state) if expected[k].shape != state[k].shape]
    if missing or unexpected or mismatched:
        raise WeightsError(
            f"{path}: does not match the architecture: {len(missing)} missing {missing[:5]}, "
            f"{len(unexpected)} unexpected {unexpected[:5]}, {len(mismatched)} with other shapes "
            f"{sorted(mismatched)[:5]}"
        )
    model.load_state_dict(state, strict=True)
    log.info("loaded %d tensors from %s", len(state), path)


def save_weights(model: nn.Module, path: str | Path, **meta: object) -> None:
    """Save the full state dict atomically, in the same layout `load_weights` reads."""
    with atomic_path(path) as tmp:
        torch.save({"state_dict": model.state_dict(), "meta": meta}, tmp)
