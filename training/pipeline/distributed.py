"""Data-parallel training through `torchrun`: which process this is, and the few collectives used.

    torchrun --nproc_per_node=N -m training train --preset paper ...      # N GPUs, or N CPU processes
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv-endpoint=HOST:29500 -m training train ...

torchrun sets `WORLD_SIZE`, `RANK` and `LOCAL_RANK`; without them (a plain `python -m training`)
this is one process and nothing here does anything (with them, even `--nproc_per_node=1` runs
through the process group and DDP: a one-GPU launch checks the multi-GPU path). With them, every process builds the same
model from the same seed, `torch.nn.parallel.DistributedDataParallel` averages the gradients
(NCCL on GPUs, gloo on CPUs), and each process trains on its own rows of the step's batch:
the batch `train.batch_size` is the *global* batch, so N processes take the same steps as one
process would, to float tolerance. Only rank 0 writes artifacts (data, snapshots, manifest,
metrics, resume checkpoints) and logs; the others only compute.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as torch_dist

from training.core.config import ConfigError

# Rank 0 measures the live metrics at each snapshot and analyses each finished run while the
# others wait at the next collective: far longer than torch's 30-minute default on a big suite.
TIMEOUT = timedelta(hours=12)


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    launched: bool = False  # by torchrun: a process group and DDP, even with one process

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.launched


SINGLE = World()


def from_env() -> World:
    """The process's place in a torchrun launch (`SINGLE` outside one)."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise ConfigError("WORLD_SIZE, RANK and LOCAL_RANK must be integers (set by torchrun)") from None
    return World(rank, size, local, launched=True) if "WORLD_SIZE" in os.environ else SINGLE


def init(device: str) -> World:
    """Join the process group of a torchrun launch: NCCL when training on GPUs, gloo otherwise."""
    world = from_env()
    if world.parallel and not torch_dist.is_initialized():
        on_gpu = device == "cuda" or (device == "auto" and torch.cuda.is_available())
        if on_gpu:
            torch.cuda.set_device(world.local_rank)
        torch_dist.init_process_group("nccl" if on_gpu else "gloo", timeout=TIMEOUT)
    return world


def close(world: World) -> None:
    if world.parallel and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.parallel:
        torch_dist.barrier()


def shard(x: torch.Tensor, world: World) -> torch.Tensor:
    """This process's rows of the global batch `x` (batch first)."""
    if not world.parallel:
        return x
    per = x.shape[0] // world.size
    return x[world.rank * per : (world.rank + 1) * per]


def mean(value: float, world: World, device: torch.device) -> float:
    """`value` averaged over the processes (the global batch's loss from each shard's)."""
    if not world.parallel:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    torch_dist.all_reduce(t)
    return t.item() / world.size


def check_batch(batch_size: int, world: World) -> None:
    if batch_size % world.size:
        raise ConfigError(
            f"train.batch_size {batch_size} must be divisible by the number of processes ({world.size}): "
            "it is the global batch, split evenly"
        )
