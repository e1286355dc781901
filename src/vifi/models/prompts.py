"""Deep vision and language prompts around a frozen open_clip CLIP (METHODS.md §2, bridge-and-prompt).

The CLIP stays open_clip's own module: its patch embedding, blocks, norms and projections run unchanged, and
this module only inserts learned tokens between blocks. Vision prompts are appended after the patch tokens and
language prompts fill the slot of the `X` tokens in `"X X … X {class}."`; block i < depth gets its own fresh
vectors. Everything else is frozen, `logit_scale` included. Because the block loops are this module's own,
it honours open_clip's `set_grad_checkpointing` flags itself.

The prompts are attached to the CLIP as its `prompts` submodule, so `clip.state_dict()` holds the CLIP's keys
plus `prompts.vision.{i}` / `prompts.text.{i}`: resume points and final weights written from `model.clip`
carry them, and a stage-1 ViFi-CLIP checkpoint loads with exactly the prompt keys missing. Key `vision.0`
is the paper's `image_encoder.VPT`, `vision.{i}` its `resblocks.{i}.VPT_shallow`, `text.0` its
`prompt_learner.ctx` and `text.{i}` the text `resblocks.{i}.VPT_shallow`.

Text token embeddings are looked up from the frozen table on every `encode_text` call rather than stored as
buffers at construction, so one model serves the base classes in training and the novel ones at evaluation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from open_clip.transformer import text_global_pool
from torch import nn
from torch.utils.checkpoint import checkpoint

from vifi.models.pretrained import WeightsError, read_state_dict

log = logging.getLogger(__name__)

PROMPT_PREFIX = "prompts."
PROMPT_STD = 0.02
PLACEHOLDER = "X"


def prompt_parameter_count(width_v: int, width_t: int, n_v: int, n_t: int, d_v: int, d_t: int) -> int:
    """Trainable parameters of VL prompting: one `(n, width)` matrix per prompted block in each modality."""
    return d_v * n_v * width_v + d_t * n_t * width_t


def _check_depth(name: str, n_ctx: int, depth: int, layers: int) -> None:
    """Prompt count and depth must agree: zero prompts means no prompting, not prompts that never enter."""
    if n_ctx < 0 or not 0 <= depth <= layers:
        raise ValueError(
            f"{name}: need n_ctx >= 0 and 0 <= depth <= {layers}, got n_ctx={n_ctx}, depth={depth}"
        )
    if (n_ctx == 0) != (depth == 0):
        raise ValueError(f"{name}: n_ctx and depth must both be 0 or both positive, got {n_ctx} and {depth}")


def _prompt_list(n_ctx: int, width: int, depth: int) -> nn.ParameterList:
    """`depth` independent `(n_ctx, width)` prompt matrices drawn from N(0, 0.02²), as in the paper."""
    return nn.ParameterList(nn.Parameter(torch.randn(n_ctx, width) * PROMPT_STD) for _ in range(depth))


class VLPrompts(nn.Module):
    """The only trainable tensors: `vision[i]` and `text[i]` enter the sequence just before block i."""

    def __init__(self, n_v: int, width_v: int, d_v: int, n_t: int, width_t: int, d_t: int) -> None:
        super().__init__()
        self.vision = _prompt_list(n_v, width_v, d_v)
        self.text = _prompt_list(n_t, width_t, d_t)


def _forward_block(block: nn.Module, x: torch.Tensor, batch_first: bool, attn_mask: torch.Tensor | None):
    """One open_clip block on a batch-first sequence, whatever layout the block itself was built for."""
    if batch_first:
        return block(x, attn_mask=attn_mask)
    return block(x.transpose(0, 1), attn_mask=attn_mask).transpose(0, 1)


def _run_block(
    block: nn.Module, x: torch.Tensor, batch_first: bool, attn_mask: torch.Tensor | None, *, checkpointed: bool
) -> torch.Tensor:
    """`_forward_block`, or with `checkpointed` the same block whose activations backward recomputes."""
    if checkpointed:
        return checkpoint(_forward_block, block, x, batch_first, attn_mask, use_reentrant=False)
    return _forward_block(block, x, batch_first, attn_mask)


def _project(x: torch.Tensor, projection: nn.Module | torch.Tensor | None) -> torch.Tensor:
    """Apply a CLIP text projection, which open_clip stores either as a matrix or as a Linear layer."""
    if projection is None:
        return x
    return projection(x) if isinstance(projection, nn.Module) else x @ projection


class PromptedCLIP(nn.Module):
    """A `VideoCLIP`-compatible video classifier whose frozen CLIP is steered by deep VL prompts.

    It has the same `tokenize` / `encode_text` / `encode_video` / `forward(video, text_features)` interface
    and `text_trains` property as `VideoCLIP`, and keeps the CLIP (with its prompts) in `self.clip`, so the
    training and evaluation loops use it unchanged.
    """

    def __init__(
        self,
        clip: nn.Module,
        tokenizer,
        *,
        n_ctx_vision: int,
        n_ctx_text: int,
        depth_vision: int,
        depth_text: int,
        template: str = "{}.",
    ) -> None:
        super().__init__()
        visual = clip.visual
        if getattr(visual, "attn_pool", None) is not None or visual.pool_type != "tok":
            raise ValueError("vision prompting needs class-token pooling: pooled tokens would include prompts")
        _check_depth("vision", n_ctx_vision, depth_vision, len(visual.transformer.resblocks))
        _check_depth("text", n_ctx_text, depth_text, len(clip.transformer.resblocks))
        if n_ctx_text + 2 > clip.context_length:
            raise ValueError(f"{n_ctx_text} text prompts leave no room in a context of {clip.context_length}")
        for param in clip.parameters():
            param.requires_grad_(False)
        clip.prompts = VLPrompts(
            n_ctx_vision,
            visual.transformer.width,
            depth_vision,
            n_ctx_text,
            clip.transformer.width,
            depth_text,
        )
        self.clip = clip
        self.tokenizer = tokenizer
        self.n_ctx_text = n_ctx_text
        self.template = template
        self.placeholder_id = int(tokenizer([PLACEHOLDER])[0, 1])

    @classmethod
    def build(cls, clip: nn.Module, tokenizer, spec, method) -> PromptedCLIP:
        """The catalog's constructor (`vifi.models.factory`): the spec's options are the prompt counts and
        depths."""
        if tuple(method.trains) != ("prompts",):
            raise ValueError(f"method {method.code}: PromptedCLIP trains its prompts only, not {method.trains}")
        return cls(clip, tokenizer, **dict(spec.options), template=method.template)

    def load(self, path: str | Path, *, trained: bool) -> None:
        """A bridge (ViFi-CLIP) checkpoint leaves the prompts at their init; a trained one must hold them."""
        missing = load_prompted_weights(self, path)
        if trained and missing:
            raise WeightsError(f"{path}: a trained prompt model lacks its prompts {missing[:5]}")

    def checkpoint_module(self) -> nn.Module:
        """The CLIP with its prompts, laid out as the bridge checkpoint plus the prompt keys."""
        return self.clip

    @property
    def prompts(self) -> VLPrompts:
        """The learned prompts (stored on the CLIP so its state dict carries them)."""
        return self.clip.prompts

    @property
    def text_trains(self) -> bool:
        """Text features change during training only when there are text prompts to learn."""
        return len(self.prompts.text) > 0

    def tokenize(self, classnames: Sequence[str]) -> torch.Tensor:
        """Tokenize `"X X … X {class}."` (n_t placeholders, then the template); underscores become spaces as in
        the paper."""
        words = [PLACEHOLDER] * self.n_ctx_text
        return self.tokenizer(
            [" ".join([*words, self.template.format(name.replace("_", " "))]) for name in classnames]
        )

    def _checkpoints(self, transformer: nn.Module) -> bool:
        """open_clip's `set_grad_checkpointing` flag on `transformer`, honoured only when backward will run.

        open_clip reads the flag in its own block loop, which this module replaces with its own.
        """
        return transformer.grad_checkpointing and self.training and torch.is_grad_enabled()

    def _check_slot(self, tokens: torch.Tensor) -> None:
        """Tokens from another template would put the prompts over real words, silently."""
        if not bool((tokens[:, 1 : 1 + self.n_ctx_text] == self.placeholder_id).all()):
            raise ValueError("text tokens lack the prompt placeholders; build them with PromptedCLIP.tokenize")

    def _with_text_prompts(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        """Positions 1..n_t hold this layer's learned context; SOT and the class suffix are kept."""
        ctx = self.prompts.text[layer].to(x.dtype).expand(x.shape[0], -1, -1)
        return torch.cat([x[:, :1], ctx, x[:, 1 + self.n_ctx_text :]], dim=1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Unnormalised text features `(K, D)` for any class list, read at each prompt's EOT token."""
        clip = self.clip
        self._check_slot(tokens)
        x = clip.token_embedding(tokens).to(clip.transformer.get_cast_dtype())
        depth = len(self.prompts.text)
        if depth:
            x = self._with_text_prompts(x, 0)
        x = x + clip.positional_embedding.to(x.dtype)
        checkpointed = self._checkpoints(clip.transformer)
        for i, block in enumerate(clip.transformer.resblocks):
            if 0 < i < depth:
                x = self._with_text_prompts(x, i)
            x = _run_block(block, x, clip.transformer.batch_first, clip.attn_mask, checkpointed=checkpointed)
        x = text_global_pool(clip.ln_final(x), tokens, clip.text_pool_type, getattr(clip, "text_eos_id", None))
        return _project(x, clip.text_projection)

    def _with_vision_prompts(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        """The last n_v tokens are this layer's learned prompts, shared by every frame."""
        prompts = self.prompts.vision[layer].to(x.dtype).expand(x.shape[0], -1, -1)
        return torch.cat([x[:, : -prompts.shape[1]], prompts], dim=1)

    def _embed_frames(self, images: torch.Tensor) -> torch.Tensor:
        """open_clip's own embedding (patches, class token, positions, `ln_pre`) followed by the prompts.

        The prompts get no positional embedding. LayerNorm acts on each token alone, so normalising them
        separately with the same `ln_pre` equals normalising the whole `[CLS, patches, prompts]` sequence.
        """
        visual = self.clip.visual
        x = visual._embeds(images)
        if not self.prompts.vision:
            return x
        prompts = visual.ln_pre(self.prompts.vision[0].to(x.dtype))
        return torch.cat([x, prompts.expand(x.shape[0], -1, -1)], dim=1)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Projected class-token embeddings `(N, D)` of `(N, 3, H, W)` frames through the prompted ViT."""
        visual = self.clip.visual
        x = self._embed_frames(images)
        depth = len(self.prompts.vision)
        checkpointed = self._checkpoints(visual.transformer)
        for i, block in enumerate(visual.transformer.resblocks):
            if 0 < i < depth:
                x = self._with_vision_prompts(x, i)
            x = _run_block(block, x, visual.transformer.batch_first, None, checkpointed=checkpointed)
        pooled, _ = visual._pool(x)
        return pooled if visual.proj is None else pooled @ visual.proj

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """Fold time into the batch, encode frames independently, average the unnormalised embeddings."""
        b, t = video.shape[:2]
        return self.encode_image(video.flatten(0, 1)).view(b, t, -1).mean(dim=1)

    def forward(self, video: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
        """Logits `(B, K)`: scaled cosine similarity of video and text features (logit_scale frozen)."""
        v = F.normalize(self.encode_video(video), dim=-1)
        t = F.normalize(text_features, dim=-1)
        return self.clip.logit_scale.exp() * v @ t.t()


def load_prompted_weights(model: PromptedCLIP, path: str | Path) -> list[str]:
    """Load a ViFi-CLIP (bridge) or prompted checkpoint into `model.clip`; returns the missing prompt keys.

    Only prompt keys may be missing; they keep their fresh initialisation, as in the paper's bridge → prompt
    step. Anything else missing, unexpected or of another shape is an error naming the keys, because a
    partial load of the backbone would go unnoticed in the metrics.
    """
    expected = model.clip.state_dict()
    # TorchScript archives also store buffers the model rebuilds itself (e.g. the causal `attn_mask`).
    rebuilt = {name for name, _ in model.clip.named_buffers()} - set(expected)
    state = {k: v for k, v in read_state_dict(path).items() if k not in rebuilt}
    missing = sorted(set(expected) - set(state))
    backbone_missing = [k for k in missing if not k.startswith(PROMPT_PREFIX)]
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if backbone_missing or unexpected or mismatched:
        raise WeightsError(
            f"{path}: does not match the prompted architecture: {len(backbone_missing)} missing "
            f"{backbone_missing[:5]}, {len(unexpected)} unexpected {unexpected[:5]}, "
            f"{len(mismatched)} with other shapes {mismatched[:5]}"
        )
    model.clip.load_state_dict(state, strict=False)
    log.info(
        "loaded %d tensors from %s; %d prompt tensors keep their init: %s",
        len(state),
        path,
        len(missing),
        missing,
    )
    return missing
