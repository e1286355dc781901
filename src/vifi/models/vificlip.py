"""ViFi-CLIP on open_clip: per-frame CLIP features, averaged over time, matched to class-prompt features.

METHODS.md §1: no temporal module at all. Each frame goes through the image encoder on its own, the projected
embeddings are averaged over time *before* L2 normalisation, and logits are `exp(logit_scale)` times the cosine
similarity with the text features of the class prompts. The method names select what trains (§1.4).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

# Which parameters train, per method. The token-embedding table never trains (it is not part of the
# paper's model), and `logit_scale` trains only when both encoders do.
METHODS = ("vanilla", "image", "text", "vifi")
PROMPTS = {
    "vanilla": "{}",
    "image": "a photo of a {}.",
    "text": "a photo of a {}.",
    "vifi": "a photo of a {}.",
}


def _is_text_param(name: str) -> bool:
    return name.startswith(("transformer.", "positional_embedding", "ln_final.", "text_projection"))


def _trainable(name: str, method: str) -> bool:
    if method == "vifi":
        return not name.startswith("token_embedding")
    if method == "image":
        return name.startswith("visual.")
    if method == "text":
        return _is_text_param(name)
    return False


class VideoCLIP(nn.Module):
    """A video classifier around an open_clip CLIP, with the class prompts' text features on demand."""

    def __init__(self, clip: nn.Module, tokenizer, method: str) -> None:
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
        self.clip = clip
        self.tokenizer = tokenizer
        self.method = method
        for name, param in clip.named_parameters():
            param.requires_grad_(_trainable(name, method))

    @property
    def text_trains(self) -> bool:
        """Whether text features change during training (otherwise they are computed once and cached)."""
        return any(p.requires_grad for n, p in self.clip.named_parameters() if _is_text_param(n))

    def tokenize(self, classnames: Sequence[str]) -> torch.Tensor:
        """Tokenize each class name inside this method's prompt template (METHODS §1.2)."""
        template = PROMPTS[self.method]
        return self.tokenizer([template.format(name) for name in classnames])

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
