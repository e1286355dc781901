"""One DDP training step of a tiny ViFi-CLIP, with every prompt encoded on every rank and with the prompts
sharded across ranks, from the same weights on the same clips. Run under torchrun (gloo on CPU); each rank
saves its gradients and updated weights of both steps for `test_sharded_text.py` to compare.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/unit/sharded_text_worker.py OUT
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from vifi.engine import distributed
from vifi.engine.train import ClassifyStep
from vifi.models.pretrained import build_clip
from vifi.models.vificlip import VideoCLIP

# 5 prompts over 2 ranks: shards of 3, the second padded with a copy of the last prompt.
CLASSES = ("red circle", "blue square", "green star", "yellow moon", "black cross")
BATCH, FRAMES, LR = 2, 2, 1e-3


def step(model: VideoCLIP, world: distributed.World, sharded: bool) -> dict[str, dict[str, torch.Tensor]]:
    """Gradients (after DDP's average) and weights after one AdamW step on this rank's clips."""
    tokens = model.tokenize(CLASSES)
    net = DDP(ClassifyStep(model, tokens, world if sharded else None))
    encoded = []
    encode = model.encode_text
    model.encode_text = lambda rows: encoded.append(len(rows)) or encode(rows)
    generator = torch.Generator().manual_seed(100 + world.rank)  # each rank its own clips, as under DDP
    clips = torch.rand(BATCH, FRAMES, 3, 32, 32, generator=generator)
    labels = torch.randint(len(CLASSES), (BATCH,), generator=generator)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR, betas=(0.9, 0.98))
    torch.nn.functional.cross_entropy(net(clips), labels).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    optimizer.step()
    return {
        "grads": grads,
        "weights": {n: p.detach().clone() for n, p in model.named_parameters()},
        "prompts_encoded": {"rows": torch.tensor(encoded)},
    }


def main(out: Path) -> None:
    torch.set_num_threads(1)
    world = distributed.init()
    torch.manual_seed(0)
    clip, tokenizer = build_clip("vifi-tiny")
    model = VideoCLIP(clip, tokenizer, "vifi")
    results = {
        "full": step(copy.deepcopy(model), world, sharded=False),
        "sharded": step(copy.deepcopy(model), world, sharded=True),
    }
    torch.save(results, out / f"rank{world.rank}.pt")
    distributed.shutdown(world)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
