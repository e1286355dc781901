"""A few contrastive steps of the demo CLIP on fixed random data; prints the sha256 of the resulting weights.

Run in a fresh process by `test_kernels.py`, because the kernel switches are read once, when torch first
computes.
"""

from __future__ import annotations

import hashlib
import sys

import torch
import torch.nn.functional as F

from vifi.engine import schedule
from vifi.engine.pretrain import contrastive_loss
from vifi.models.pretrained import build_clip


def main(threads: int, steps: int = 3) -> str:
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model, tokenizer = build_clip("vifi-tiny")
    size = model.visual.image_size[0]
    images = torch.randn(32, 3, size, size)
    tokens = tokenizer([f"a shape number {i}" for i in range(32)])
    optimizer = schedule.adamw(model.named_parameters(), 1e-3, 0.1)
    for _ in range(steps):
        img = F.normalize(model.encode_image(images), dim=-1)
        txt = F.normalize(model.encode_text(tokens), dim=-1)
        loss = contrastive_loss(img, txt, torch.arange(32), model.logit_scale.exp())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    digest = hashlib.sha256()
    for value in model.state_dict().values():
        digest.update(value.detach().contiguous().numpy().tobytes())
    return f"{torch.backends.cpu.get_cpu_capability()} {digest.hexdigest()}"


if __name__ == "__main__":
    print(main(int(sys.argv[1])))
