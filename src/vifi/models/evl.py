"""EVL (Frozen CLIP Models are Efficient Video Learners) around open_clip's frozen vision tower, METHODS.md §7.

The CLIP image encoder runs frozen, frame by frame, under `torch.no_grad()`. From its last `L_dec` blocks a
light decoder reads the raw residual tokens and the attention queries/keys: one learned query token attends,
layer by layer, to all tokens of all frames, after three local temporal modules (a depth-wise temporal
convolution, a temporal position embedding and a cross-frame attention-map module) have mixed time into the
frame features. The decoder's cross-attention is a set operation over the `T·L` tokens, so those temporal
modules are the *only* source of frame-order sensitivity, which is what separates EVL from ViFi-CLIP's mean
pooling.

Two heads:

- `EVL`: the released closed-set classifier, `LayerNorm → Dropout → Linear(C, K)`.
- `OpenVocabEVL` (not in the original): the final query goes through the backbone's own frozen `ln_post` and
  `proj` into CLIP's joint space and is scored against text embeddings of the class prompts with CLIP's
  `logit_scale`, so EVL runs the zero-shot and base-to-novel protocols behind the same interface as
  `VideoCLIP`.

Both keep the full open_clip CLIP registered (frozen) so that `.to(device)` moves it and a saved state dict is
self-contained; only the decoder (and the closed-set head) have `requires_grad`, so an optimiser built from
the trainable parameters sees nothing else and the backbone stays bit-identical.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from open_clip.transformer import QuickGELU, ResidualAttentionBlock
from torch import nn

from vifi.models.pretrained import WeightsError, load_weights, read_state_dict

# The keys of the decoder in a trained EVL checkpoint, which a CLIP checkpoint lacks.
DECODER_PREFIX = "decoder."


@dataclass(frozen=True)
class EVLConfig:
    """Decoder hyper-parameters and the released ablation switches (`--decoder_*`, `--no_temporal_*`).

    `qkv_dim` and `num_heads` default to the backbone's width and head count, which is what the released
    scripts use (768/12 for ViT-B/16, 1024/16 for ViT-L/14). `num_frames` is fixed per model because the
    temporal position embedding has one row per frame.
    """

    num_frames: int
    num_layers: int = 4
    qkv_dim: int | None = None
    num_heads: int | None = None
    mlp_factor: float = 4.0
    mlp_dropout: float = 0.5
    cls_dropout: float = 0.5
    temporal_conv: bool = True
    temporal_pos_embed: bool = True
    temporal_cross_attention: bool = True


class BlockFeatures(NamedTuple):
    """What the decoder reads from one backbone block: output tokens and that block's per-head q and k."""

    out: torch.Tensor  # (..., L, C): the raw residual stream after the block, CLS included, no final LN
    q: torch.Tensor  # (..., L, H, d): ln_1(block input) through the block's query weights and bias, unscaled
    k: torch.Tensor  # (..., L, H, d): likewise with the key weights


def check_backbone(visual: nn.Module, num_layers: int) -> None:
    """Refuse vision towers whose blocks do not expose the fused `in_proj` q/k the decoder needs.

    Recent open_clip runs its transformers batch-first; older releases (and custom blocks) lay tokens out
    differently, and reading q/k from them would silently permute tokens and heads.
    """
    blocks = visual.transformer.resblocks
    if not 1 <= num_layers <= len(blocks):
        raise ValueError(f"decoder needs 1..{len(blocks)} backbone blocks, got num_layers={num_layers}")
    for i, block in enumerate(blocks):
        if not isinstance(block, ResidualAttentionBlock) or not block.attn.batch_first:
            raise ValueError(f"backbone block {i} is not a batch-first open_clip ResidualAttentionBlock")


def _query_key(block: ResidualAttentionBlock, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The block's self-attention q and k on input `x`, split per head.

    `attn.in_proj_weight` stacks `[W_q; W_k; W_v]` row-wise, and `nn.MultiheadAttention` gives head `h` the
    channels `h·d … (h+1)·d`, so the first `2C` rows reshaped to `(2, H, d)` are exactly what the block uses.
    """
    width, heads = x.shape[-1], block.attn.num_heads
    w, b = block.attn.in_proj_weight[: 2 * width], block.attn.in_proj_bias[: 2 * width]
    qk = F.linear(block.ln_1(x), w, b).unflatten(-1, (2, heads, width // heads))
    return qk[..., 0, :, :], qk[..., 1, :, :]


@torch.no_grad()
def backbone_features(visual: nn.Module, frames: torch.Tensor, num_layers: int) -> list[BlockFeatures]:
    """Run open_clip's vision tower on `(N, 3, H, W)` frames and keep the last `num_layers` blocks' features.

    The embedding mirrors `VisionTransformer._embeds` (conv1, class token, positional embedding, ln_pre)
    without patch dropout, which is inactive in a frozen eval-mode tower. `ln_post`/`proj` are not applied:
    EVL reads the residual stream. Features come back in fp32 as released, whatever autocast computed.
    """
    x = visual.conv1(frames).flatten(2).transpose(1, 2)
    cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
    x = visual.ln_pre(torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype))
    blocks = visual.transformer.resblocks
    first = len(blocks) - num_layers
    for block in blocks[:first]:
        x = block(x)
    features = []
    for block in blocks[first:]:
        q, k = _query_key(block, x)
        x = block(x)
        features.append(BlockFeatures(x.float(), q.float(), k.float()))
    return features


def relative_index(height: int, width: int) -> torch.Tensor:
    """`(P, P)` row of the 2-D relative offset (Δrow, Δcol) between query patch p and key patch k.

    Offsets range over `[-(h-1), h-1]` by `[-(w-1), w-1]`, flattened row-major into `(2h-1)(2w-1)` rows, the
    layout of the released tables.
    """
    rows = torch.arange(height).repeat_interleave(width)
    cols = torch.arange(width).repeat(height)
    d_row = rows[:, None] - rows[None, :] + height - 1
    d_col = cols[:, None] - cols[None, :] + width - 1
    return d_row * (2 * width - 1) + d_col


class TemporalCrossAttention(nn.Module):
    """Features from the attention maps between neighbouring frames (METHODS §7.1 step 3).

    For every patch of frame t, its head-averaged attention over the patches of frame t-1 (t+1) weights a
    learned vector per relative offset. The two tables are zero-initialised as released, so the module adds
    nothing until it has trained; having separate tables for "previous" and "next" is what makes it sensitive
    to the direction of time. The index table is a buffer, so it follows the module to any device.
    """

    def __init__(self, grid: tuple[int, int], width: int) -> None:
        super().__init__()
        rows = (2 * grid[0] - 1) * (2 * grid[1] - 1)
        self.w_prev = nn.Parameter(torch.zeros(rows, width))
        self.w_next = nn.Parameter(torch.zeros(rows, width))
        self.register_buffer("rel_index", relative_index(*grid), persistent=False)

    def _term(self, q: torch.Tensor, k: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """`Σ_k mean_h softmax_k(q·k/√d) · table[r(p, k)]` over patch tokens (CLS dropped on both sides)."""
        q, k = q[:, :, 1:], k[:, :, 1:]
        attn = torch.einsum("btphd,btkhd->btpkh", q * q.shape[-1] ** -0.5, k).softmax(dim=-2).mean(dim=-1)
        return torch.einsum("btpk,pkc->btpc", attn, table[self.rel_index])

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """`(B, T, L, C)` to add to the frames; frame 0 has no "previous", frame T-1 no "next", CLS gets 0."""
        prev = F.pad(self._term(q[:, 1:], k[:, :-1], self.w_prev), (0, 0, 0, 0, 1, 0))
        nxt = F.pad(self._term(q[:, :-1], k[:, 1:], self.w_next), (0, 0, 0, 0, 0, 1))
        return F.pad(prev + nxt, (0, 0, 1, 0))


class CrossAttention(nn.Module):
    """Multi-head attention with separate q/k/v projections to `qkv_dim` (which may differ from the width).

    `nn.MultiheadAttention` ties the projection size to the embedding size, hence this small module. Weights
    are Xavier-uniform with zero biases, as released.
    """

    def __init__(self, width: int, qkv_dim: int, heads: int) -> None:
        super().__init__()
        if qkv_dim % heads:
            raise ValueError(f"qkv_dim {qkv_dim} is not divisible by {heads} heads")
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj = (nn.Linear(width, qkv_dim) for _ in range(3))
        self.out_proj = nn.Linear(qkv_dim, width)
        for linear in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """`(B, Lq, C)` queries attend to `(B, Lk, C)` context."""
        q, k, v = (
            self._split(self.q_proj(x)),
            self._split(self.k_proj(context)),
            self._split(self.v_proj(context)),
        )
        return self.out_proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2))


class DecoderLayer(nn.Module):
    """Pre-norm decoder layer: `x += MHA(LN1(x), LN3(F), LN3(F))`, then `x += MLP(LN2(x))`.

    MLP: QuickGELU and dropout between its two Linears (Xavier-uniform weights, N(0, 1e-6²) biases).
    """

    def __init__(self, width: int, qkv_dim: int, heads: int, mlp_factor: float, dropout: float) -> None:
        super().__init__()
        hidden = round(mlp_factor * width)
        self.attn = CrossAttention(width, qkv_dim, heads)
        self.mlp = nn.Sequential(
            OrderedDict(
                fc1=nn.Linear(width, hidden),
                act=QuickGELU(),
                dropout=nn.Dropout(dropout),
                fc2=nn.Linear(hidden, width),
            )
        )
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(width) for _ in range(3))
        for linear in (self.mlp.fc1, self.mlp.fc2):
            nn.init.xavier_uniform_(linear.weight)
            nn.init.normal_(linear.bias, std=1e-6)

    def forward(self, x: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        context = self.norm3(frames)
        x = x + self.attn(self.norm1(x), context)
        return x + self.mlp(self.norm2(x))


class DecoderBlock(nn.Module):
    """One decoder step: temporal modules on one backbone block's features, then a decoder layer.

    A disabled temporal module is simply absent (no parameters), like the released `--no_temporal_*` flags.
    """

    def __init__(self, width: int, grid: tuple[int, int], heads: int, config: EVLConfig) -> None:
        super().__init__()
        self.temporal_conv = (
            nn.Conv1d(width, width, kernel_size=3, padding=1, groups=width) if config.temporal_conv else None
        )
        self.temporal_pos_embed = (
            nn.Parameter(torch.zeros(config.num_frames, width)) if config.temporal_pos_embed else None
        )
        self.cross_attention = TemporalCrossAttention(grid, width) if config.temporal_cross_attention else None
        self.layer = DecoderLayer(
            width, config.qkv_dim or width, config.num_heads or heads, config.mlp_factor, config.mlp_dropout
        )

    def _conv(self, out: torch.Tensor) -> torch.Tensor:
        """Depth-wise conv over time, applied to every token position independently."""
        b, t, n, c = out.shape
        mixed = self.temporal_conv(out.permute(0, 2, 3, 1).reshape(b * n, c, t))
        return mixed.view(b, n, c, t).permute(0, 3, 1, 2)

    def temporal_features(self, feats: BlockFeatures) -> torch.Tensor:
        """`(B, T, L, C)` frame features plus the enabled temporal modules (residually, in released order)."""
        frames = feats.out
        if self.temporal_conv is not None:
            frames = frames + self._conv(feats.out)
        if self.temporal_pos_embed is not None:
            frames = frames + self.temporal_pos_embed[:, None]
        if self.cross_attention is not None:
            frames = frames + self.cross_attention(feats.q, feats.k)
        return frames

    def forward(self, x: torch.Tensor, feats: BlockFeatures) -> torch.Tensor:
        return self.layer(x, self.temporal_features(feats).flatten(1, 2))


class EVLDecoder(nn.Module):
    """One query token refined over `L_dec` blocks, shallowest selected backbone block first.

    The query is zero-initialised: the released code defines an N(0, 0.02²) init but never calls it.
    """

    def __init__(self, width: int, grid: tuple[int, int], heads: int, config: EVLConfig) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.zeros(width))
        self.blocks = nn.ModuleList(DecoderBlock(width, grid, heads, config) for _ in range(config.num_layers))

    def forward(self, features: Sequence[BlockFeatures]) -> torch.Tensor:
        """`(B, C)` final query from per-block `(B, T, L, …)` features."""
        x = self.query.view(1, 1, -1).expand(features[0].out.shape[0], 1, -1)
        for block, feats in zip(self.blocks, features, strict=True):
            x = block(x, feats)
        return x[:, 0]


class EVLBase(nn.Module):
    """Frozen open_clip CLIP plus a trainable EVL decoder; subclasses add a head."""

    def __init__(self, clip: nn.Module, config: EVLConfig) -> None:
        super().__init__()
        visual = clip.visual
        check_backbone(visual, config.num_layers)
        self.clip = clip.requires_grad_(False).eval()
        self.config = config
        self.width = visual.transformer.width
        heads = visual.transformer.resblocks[0].attn.num_heads
        self.decoder = EVLDecoder(self.width, tuple(visual.grid_size), heads, config)

    def train(self, mode: bool = True) -> EVLBase:
        """Switch the decoder and head only: the backbone always runs in eval mode, as released."""
        super().train(mode)
        self.clip.eval()
        return self

    def encode_query(self, video: torch.Tensor) -> torch.Tensor:
        """`(B, T, 3, H, W)` clip → `(B, C)` final decoder query (the frame count is fixed by the model)."""
        if video.ndim != 5 or video.shape[1] != self.config.num_frames:
            raise ValueError(f"expected (B, {self.config.num_frames}, 3, H, W) video, got {tuple(video.shape)}")
        b, t = video.shape[:2]
        features = backbone_features(self.clip.visual, video.flatten(0, 1), self.config.num_layers)
        features = [BlockFeatures(*(x.unflatten(0, (b, t)) for x in f)) for f in features]
        return self.decoder(features)


class EVL(EVLBase):
    """The released closed-set EVL: `LayerNorm → Dropout → Linear(C, K)` on the final query."""

    def __init__(self, clip: nn.Module, num_classes: int, config: EVLConfig) -> None:
        super().__init__(clip, config)
        self.head = nn.Sequential(
            nn.LayerNorm(self.width), nn.Dropout(config.cls_dropout), nn.Linear(self.width, num_classes)
        )

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Logits `(B, K)` for a `(B, T, 3, H, W)` clip."""
        return self.head(self.encode_query(video))


class OpenVocabEVL(EVLBase):
    """EVL scored against CLIP text embeddings, with `VideoCLIP`'s interface (zero-shot, base-to-novel).

    The final query plays the role of CLIP's class token: it lives in the residual space of the last blocks
    (its keys and values are their raw tokens), so the backbone's own frozen `ln_post` and `proj` map it into
    the joint space the frozen text tower was aligned with. Keeping that map frozen adds no parameters and
    leaves nothing but the decoder to fit the base classes, which limits drift away from the text space for
    unseen classes; a trainable copy could specialise to the K base text directions. The closed-set head's
    dropout sits between the norm and the projection, mirroring `LayerNorm → Dropout → Linear`.
    """

    def __init__(self, clip: nn.Module, tokenizer, config: EVLConfig, template: str) -> None:
        super().__init__(clip, config)
        self.tokenizer = tokenizer
        self.template = template
        self.dropout = nn.Dropout(config.cls_dropout)

    @classmethod
    def build(cls, clip: nn.Module, tokenizer, spec, method) -> OpenVocabEVL:
        """The catalog's constructor (`vifi.models.factory`): the decoder depth is the spec's `evl_layers`."""
        if tuple(method.trains) != ("decoder",):
            raise ValueError(f"method {method.code}: EVL trains its decoder only, not {method.trains}")
        config = EVLConfig(num_frames=spec.num_frames, num_layers=dict(spec.options)["evl_layers"])
        return cls(clip, tokenizer, config, method.template)

    def load(self, path: str | Path, *, trained: bool) -> None:
        """A trained EVL file holds the whole model; an initial one is a CLIP checkpoint for the backbone."""
        if not trained:
            load_weights(self.clip, path)
            return
        if not any(k.startswith(DECODER_PREFIX) for k in read_state_dict(path)):
            raise WeightsError(f"{path}: no EVL decoder weights ({DECODER_PREFIX}*); is it a CLIP checkpoint?")
        load_weights(self, path)

    def checkpoint_module(self) -> nn.Module:
        """The whole model: the decoder lives outside the CLIP."""
        return self

    @property
    def text_trains(self) -> bool:
        """The text tower is frozen, so the loops encode the class prompts once and cache them."""
        return False

    def tokenize(self, classnames: Sequence[str]) -> torch.Tensor:
        """Tokenize each class name inside the prompt template of the method's catalog entry."""
        return self.tokenizer([self.template.format(name) for name in classnames])

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Unnormalised text features `(K, D)` from the frozen text tower."""
        return self.clip.encode_text(tokens)

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """Unnormalised video embedding `(B, D)` in CLIP's joint space."""
        visual = self.clip.visual
        return self.dropout(visual.ln_post(self.encode_query(video))) @ visual.proj

    def forward(self, video: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
        """Logits `(B, K)`: CLIP's (frozen, unclamped) `logit_scale.exp()` times cosine similarity."""
        v = F.normalize(self.encode_video(video), dim=-1)
        t = F.normalize(text_features, dim=-1)
        return self.clip.logit_scale.exp() * v @ t.t()
