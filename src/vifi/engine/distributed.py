"""Multi-process training under torchrun: one process per device, gloo on CPU, nccl on GPU.

A single process (plain `python -m vifi train`) is the world-size-1 case of the same code, so the demo
exercises every line the GPU cluster runs except the collective calls themselves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as collectives


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init() -> World:
    """Join the torchrun process group if launched by torchrun, else a world of one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return World(rank=int(os.environ.get("RANK", "0")), size=size, device=device)


def barrier(world: World) -> None:
    """Wait for every process (e.g. until rank 0 has written a checkpoint)."""
    if world.size > 1:
        dist.barrier()


def shutdown(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def accumulation_steps(effective_batch: int, batch_size: int, world_size: int) -> int:
    """Gradient-accumulation steps that keep the effective batch fixed across world sizes (METHODS §3.3)."""
    per_step = batch_size * world_size
    if effective_batch % per_step:
        raise ValueError(
            f"effective batch {effective_batch} is not a multiple of batch size {batch_size} x {world_size} "
            "processes; change train.effective_batch or train.batch_size"
        )
    return effective_batch // per_step


def shard_rows(rows: torch.Tensor, world: World) -> torch.Tensor:
    """This rank's `ceil(K / world)` rows of `rows`, the last shard padded with copies of the last row.

    `all_gather` needs equal shapes on every rank; the padding rows are dropped again by `gather_rows`, so
    nothing flows back into them.
    """
    per_rank = -(-len(rows) // world.size)
    padded = torch.cat([rows, rows[-1:].expand(per_rank * world.size - len(rows), *rows.shape[1:])])
    return padded[world.rank * per_rank : (world.rank + 1) * per_rank]


def gather_rows(shard: torch.Tensor, total: int, world: World) -> torch.Tensor:
    """Every rank's `shard` concatenated in rank order and cut to `total` rows, differentiable.

    `all_gather_single` is torch's differentiable all-gather (`torch.distributed.nn`'s is deprecated); its
    backward, a reduce-scatter, sums each rank's gradient into the rows that rank produced, so each
    rank's parameters receive the gradient of every rank's loss through its own rows; DDP's average of those
    over ranks equals its average of full, unsharded gradients.
    """
    gathered = collectives.all_gather_single(shard.contiguous(), 0, dist.group.WORLD)
    return collectives.wait_tensor(gathered)[:total]
