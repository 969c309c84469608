"""Processes and devices: the torchrun process group, DistributedDataParallel, data sharding.

Under ``torchrun`` (``WORLD_SIZE`` > 1) every process joins the group (``gloo`` on CPU,
``nccl`` on CUDA, one GPU per ``LOCAL_RANK``), the model is wrapped in DDP, training data goes
through a DistributedSampler and evaluation data through an unpadded :class:`ShardSampler`, and
per-rank sums (losses, confusion matrices) are all-reduced, so validation numbers count every
sample exactly once. Only rank 0 (:attr:`Dist.is_main`) writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from ..errors import InputError


@dataclass
class Dist:
    """This process's place in the run: rank, number of processes, local GPU, device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> Dist:
    """Join the torchrun process group when launched by torchrun; pick the device.

    ``device``: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``; asking for
    CUDA on a machine without it is an error, not a silent fall-back to the CPU. Under torchrun
    each process takes the GPU of its ``LOCAL_RANK``.
    """
    if device not in ("auto", "cpu", "cuda") and not (
            device.startswith("cuda:") and device[5:].isdigit()):
        raise InputError(f"unknown --device {device!r} (auto, cpu, cuda, cuda:N)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device}: CUDA is not available on this machine "
                         "(use --device cpu)")
    cuda = torch.cuda.is_available() and device != "cpu"
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if cuda else "gloo")
        return Dist(dist.get_rank(), world, local,
                    torch.device(f"cuda:{local}" if cuda else "cpu"))
    return Dist(device=torch.device(("cuda" if device == "auto" else device) if cuda else "cpu"))


def cleanup_distributed(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


def wrap_ddp(model: torch.nn.Module, d: Dist) -> torch.nn.Module:
    """DistributedDataParallel under torchrun, the model itself otherwise."""
    if not d.enabled:
        return model
    ids = [d.device.index] if d.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a DDP wrapper (what checkpoints store), else the model itself."""
    return model.module if hasattr(model, "module") else model


class ShardSampler(torch.utils.data.Sampler):
    """Evaluation under DDP: rank r takes indices r, r + W, r + 2W, ... with no padding, so the
    all-reduced counts cover every sample exactly once (DistributedSampler pads with repeats)."""

    def __init__(self, length: int, rank: int, world_size: int):
        self.indices = range(rank, length, world_size)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def make_loader(dataset, batch_size: int, workers: int, d: Dist, train: bool, seed: int = 0,
                **kwargs) -> torch.utils.data.DataLoader:
    """A DataLoader for training (shuffled; a DistributedSampler under DDP; the last partial
    batch dropped when there is more than one batch) or evaluation (in order; sharded without
    padding under DDP). Extra ``kwargs`` go to the DataLoader (e.g. ``collate_fn``)."""
    from torch.utils.data import DataLoader, DistributedSampler

    if train:
        sampler = DistributedSampler(dataset, seed=seed) if d.enabled else None
        per_rank = len(sampler) if sampler is not None else len(dataset)
        kwargs.setdefault("drop_last", per_rank > batch_size)
    else:
        sampler = ShardSampler(len(dataset), d.rank, d.world_size) if d.enabled else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=train and sampler is None,
                      sampler=sampler, num_workers=workers, pin_memory=d.device.type == "cuda",
                      persistent_workers=workers > 0, **kwargs)


def all_reduce(values: np.ndarray, d: Dist) -> np.ndarray:
    """``values`` summed over the ranks (float64 or int64, so counts stay exact)."""
    if not d.enabled:
        return values
    t = torch.as_tensor(values, dtype=torch.float64 if values.dtype.kind == "f" else torch.int64)
    dist.all_reduce(t)
    return t.numpy()
