"""A few pretraining steps of the demo CLIP on fixed random data; prints the sha256 of the resulting weights.

Run in a fresh process by `test_kernels.py`, because the kernel switches are read once, when torch first
computes.
"""

from __future__ import annotations

import hashlib
import sys

import torch

from vifi import kernels
from vifi.engine import pretrain, schedule
from vifi.models.pretrained import build_clip


def main(threads: int, steps: int = 3) -> str:
    """The kernel family torch dispatched to and the weights' hash after `steps` steps on `threads` threads."""
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    kernels.apply_onednn_switch()  # as the pretraining stage does
    model, tokenizer = build_clip("vifi-tiny")
    size = model.visual.image_size[0]
    images = torch.randn(32, 3, size, size)
    tokens = tokenizer([f"a shape number {i}" for i in range(32)])
    optimizer = schedule.adamw(model.named_parameters(), 1e-3, 0.1)
    for _ in range(steps):
        pretrain.step(model, optimizer, images, tokens, torch.arange(32), torch.device("cpu"))
    digest = hashlib.sha256()
    for value in model.state_dict().values():
        digest.update(value.detach().contiguous().numpy().tobytes())
    return f"{torch.backends.cpu.get_cpu_capability()} {digest.hexdigest()}"


if __name__ == "__main__":
    print(main(int(sys.argv[1])))
