"""The text tower sharded across DDP ranks: the same gradients and updated weights as every rank encoding
every class prompt, with each rank encoding only its share."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT, tool_env
from vifi.engine import distributed

WORLD = 2
# float32: a shard encodes fewer rows per matmul and the gathered gradients are summed in another order, so
# gradients differ from the unsharded step's by rounding only: within 1e-4 relative, or 1e-5 of the tensor's
# largest gradient for entries near zero. (A wrong reduction, e.g. averaging the gathered gradients, is off by
# the world size.)
GRAD_RTOL, GRAD_ATOL_OF_MAX = 1e-4, 1e-5
# One AdamW step at LR 1e-3 moves each weight by about LR * g / (|g| + eps): a gradient of rounding size
# (1e-9 to 1e-7, against eps 1e-8) still moves its weight by up to LR, and rounding changes that by up to
# ~1e-4. So the weights are compared to 10% of LR. Adam's step ignores a constant gradient scale, so the
# gradient comparison above is the check on the reduction; this one checks that the optimiser applies it.
WEIGHT_TOL = {"rtol": 1e-5, "atol": 1e-4}


def _comparable(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """The tensor less the attention key biases, whose exact gradient is zero (softmax ignores a shift of all
    keys): Adam scales their rounding noise to LR-sized steps of either sign."""
    if name.endswith("attn.in_proj_bias"):
        q, _, v = tensor.chunk(3)
        return torch.cat([q, v])
    return tensor


def test_sharded_text_step_equals_the_unsharded_step_under_torchrun_gloo(tmp_path):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(WORLD)]
    worker = ROOT / "tests" / "unit" / "sharded_text_worker.py"
    proc = subprocess.run(
        [*launcher, str(worker), str(tmp_path)], env=tool_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rank in range(WORLD):
        result = torch.load(tmp_path / f"rank{rank}.pt")
        full, sharded = result["full"], result["sharded"]
        assert full["prompts_encoded"]["rows"].tolist() == [5]
        assert sharded["prompts_encoded"]["rows"].tolist() == [3], "each rank should encode ceil(5 / 2) prompts"
        text_grads = [n for n in full["grads"] if n.startswith("clip.transformer.")]
        assert text_grads and set(sharded["grads"]) == set(full["grads"])
        for name, grad in full["grads"].items():
            atol = GRAD_ATOL_OF_MAX * grad.abs().max().item()
            torch.testing.assert_close(
                sharded["grads"][name], grad, rtol=GRAD_RTOL, atol=atol, msg=f"rank {rank} grad {name}"
            )
        for name, weight in full["weights"].items():
            torch.testing.assert_close(
                _comparable(name, sharded["weights"][name]),
                _comparable(name, weight),
                **WEIGHT_TOL,
                msg=f"rank {rank} weight {name}",
            )


@pytest.mark.parametrize(("classes", "world"), [(400, 8), (5, 2), (3, 8), (7, 3)])
def test_shards_cover_every_prompt_once_in_rank_order(classes: int, world: int) -> None:
    """Concatenated in rank order and cut to K rows, the shards are the prompts themselves, padded with copies
    of the last one to equal shapes (all_gather's requirement) when K is no multiple of the world size."""
    rows = torch.arange(classes * 2).view(classes, 2)
    shards = [
        distributed.shard_rows(rows, distributed.World(rank, world, torch.device("cpu")))
        for rank in range(world)
    ]
    assert len({len(shard) for shard in shards}) == 1 and len(shards[0]) == -(-classes // world)
    gathered = torch.cat(shards)
    assert torch.equal(gathered[:classes], rows)
    assert (gathered[classes:] == rows[-1]).all()
