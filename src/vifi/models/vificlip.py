"""ViFi-CLIP on open_clip: per-frame CLIP features, averaged over time, matched to class-prompt features.

METHODS.md §1: no temporal module at all. Each frame goes through the image encoder on its own, the projected
embeddings are averaged over time *before* L2 normalisation, and logits are `exp(logit_scale)` times the cosine
similarity with the text features of the class prompts. Vanilla CLIP, image-FT, text-FT and ViFi-CLIP are this
one model; their catalog entries (`vifi.catalog`) differ only in which parameter groups train (§1.4) and in the
prompt template (§1.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vifi.catalog import methods as method_catalog
from vifi.models.pretrained import load_weights

# The parameter groups a catalog entry's `trains` can name. The token-embedding table is in none of them: it
# is not part of the paper's model and never trains. `logit_scale` trains only where an entry names it
# (ViFi-CLIP).
TEXT_PREFIXES = ("transformer.", "positional_embedding", "ln_final.", "text_projection")
GROUPS = {"image": ("visual.",), "text": TEXT_PREFIXES, "logit_scale": ("logit_scale",)}


def _is_text_param(name: str) -> bool:
    return name.startswith(TEXT_PREFIXES)


def _trainable(name: str, groups: Sequence[str]) -> bool:
    return any(name.startswith(GROUPS[g]) for g in groups)


class VideoCLIP(nn.Module):
    """A video classifier around an open_clip CLIP, with the class prompts' text features on demand."""

    def __init__(self, clip: nn.Module, tokenizer, method: str) -> None:
        super().__init__()
        entry = method_catalog.method(method)
        if unknown := sorted(set(entry.trains) - set(GROUPS)):
            raise ValueError(
                f"method {method}: VideoCLIP has no parameter group {unknown}; it has {list(GROUPS)}"
            )
        self.clip = clip
        self.tokenizer = tokenizer
        self.method = method
        self.template = entry.template
        for name, param in clip.named_parameters():
            param.requires_grad_(_trainable(name, entry.trains))

    @classmethod
    def build(cls, clip: nn.Module, tokenizer, spec, method: method_catalog.Method) -> VideoCLIP:
        """The catalog's constructor (`vifi.models.factory`): nothing beyond the CLIP and the method."""
        return cls(clip, tokenizer, method.code)

    def load(self, path: str | Path, *, trained: bool) -> None:
        """Pretrained and fine-tuned checkpoints have the same layout: the CLIP's own state dict."""
        load_weights(self.clip, path)

    def checkpoint_module(self) -> nn.Module:
        """The CLIP, so a fine-tuned checkpoint is laid out as the pretrained one and can be a bridge."""
        return self.clip

    @property
    def text_trains(self) -> bool:
        """Whether text features change during training (otherwise they are computed once and cached)."""
        return any(p.requires_grad for n, p in self.clip.named_parameters() if _is_text_param(n))

    def tokenize(self, classnames: Sequence[str]) -> torch.Tensor:
        """Tokenize each class name inside this method's prompt template (METHODS §1.2)."""
        return self.tokenizer([self.template.format(name) for name in classnames])

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Unnormalised text features `(K, D)` read at the EOT token."""
        return self.clip.encode_text(tokens)

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """Fold time into the batch, encode frames independently, average the unnormalised embeddings."""
        b, t = video.shape[:2]
        frames = self.clip.encode_image(video.flatten(0, 1))
        return frames.view(b, t, -1).mean(dim=1)

    def forward(self, video: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
        """Logits `(B, K)`: scaled cosine similarity of video and text features (logit_scale unclamped)."""
        v = F.normalize(self.encode_video(video), dim=-1)
        t = F.normalize(text_features, dim=-1)
        return self.clip.logit_scale.exp() * v @ t.t()
