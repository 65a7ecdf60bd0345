"""Where a run's samples live and how a batch reaches the device: resident or streamed.

A dataset that fits in device memory is copied there once (`Resident`): each epoch's order is one
index tensor sent to the device, and every batch is gathered there by `index_select` — no per-batch
host→device copy, and augmentation (augment.py) runs on the gathered batch. One that does not fit
is streamed (`Streamed`): a torch DataLoader's worker processes fetch whole batches (an image folder
decodes its files there, see images.py), pinned when the device is a GPU, and each batch is copied
asynchronously as it is used. Both follow the same order for the same seed (`epoch_order`, which is
DistributedSampler's), so the batches are the same whichever way they travel.

A streamed dataset is anything with `__len__` and `__getitems__(indices) -> (x, y)`; a TensorDataset
is wrapped to that (`TensorRows`). `take` reads given samples of either kind as one batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

Batch = tuple[torch.Tensor, torch.Tensor]


Order = torch.Tensor | range  # sample indices; a range is read as slices (views, no gather)


def epoch_order(size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1,
                shuffle: bool = True) -> Order:
    """This rank's sample indices for `epoch`, exactly as torch's DistributedSampler(seed, epoch) gives them:
    a permutation seeded by seed + epoch, padded by wrapping to a multiple of world_size, every world_size-th.
    Unshuffled on one process, that is every sample in order: a range."""
    if shuffle:
        order = torch.randperm(size, generator=torch.Generator().manual_seed(seed + epoch))
    elif world_size == 1:
        return range(size)
    else:
        order = torch.arange(size)
    total = -(-size // world_size) * world_size
    if total > size:
        order = torch.cat([order, order.repeat(-(-(total - size) // size))[:total - size]])
    return order[rank:total:world_size]


def take(dataset, indices: Sequence[int] | torch.Tensor) -> Batch:
    """Samples `indices` of a TensorDataset or a streamed dataset as one (x, y) batch on the host."""
    if hasattr(dataset, "tensors"):
        index = torch.as_tensor(indices)
        return tuple(t.index_select(0, index) for t in dataset.tensors)
    return dataset.__getitems__(list(map(int, indices)))


class TensorRows:
    """A TensorDataset as a streamed dataset: a batch is one indexed read per tensor (no per-sample collate)."""

    def __init__(self, dataset):
        self.tensors = dataset.tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitems__(self, indices: list[int]) -> Batch:
        return take(self, indices)


class Resident:
    """Every sample on the device for the whole run; batches are gathered there."""

    placement, workers = "device", 0

    def __init__(self, dataset, device: torch.device):
        self.device = device
        self.tensors = tuple(t.to(device) for t in dataset.tensors)

    def batches(self, indices: Order, batch_size: int) -> Iterator[Batch]:
        x, y = self.tensors
        if isinstance(indices, range):
            for start in range(indices.start, indices.stop, batch_size):
                yield x[start:min(start + batch_size, indices.stop)], y[start:min(start + batch_size, indices.stop)]
            return
        for index in indices.to(self.device, non_blocking=True).split(batch_size):  # one copy per epoch
            yield x.index_select(0, index), y.index_select(0, index)


def _as_is(batch: Batch) -> Batch:
    """The DataLoader's collate: `__getitems__` already returns the batch."""
    return batch


class Streamed:
    """Batches fetched by `workers` DataLoader processes (0: in this process), pinned for a GPU, copied as used."""

    placement = "stream"

    def __init__(self, dataset, device: torch.device, workers: int):
        self.dataset = dataset if hasattr(dataset, "__getitems__") else TensorRows(dataset)
        self.device, self.workers = device, workers

    def batches(self, indices: Order, batch_size: int) -> Iterator[Batch]:
        from torch.utils.data import DataLoader

        plan = [list(indices[i:i + batch_size]) if isinstance(indices, range) else indices[i:i + batch_size].tolist()
                for i in range(0, len(indices), batch_size)]
        # its own generator: the workers' seeds must not draw from torch's global RNG, which dropout, noise
        # and augmentation use — so a streamed run trains exactly like a resident one, and resumes bit-exact
        loader = DataLoader(self.dataset, batch_sampler=plan, num_workers=self.workers, collate_fn=_as_is,
                            pin_memory=self.device.type == "cuda", generator=torch.Generator(),
                            prefetch_factor=4 if self.workers else None)
        for x, y in loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


def place(dataset, device: torch.device, setting: str, workers: int | str) -> Resident | Streamed:
    """The batches of `dataset` on `device` as `training.data_placement` (`setting`) asks, streamed by `workers`
    processes ("auto": see placement.auto_workers). A dataset read lazily (an image folder too big to decode up
    front) is always streamed; on the CPU, auto keeps a dataset that is already in memory where it is."""
    from .placement import auto_workers, choose, free_bytes, tensors_bytes

    workers = auto_workers() if workers == "auto" else workers
    if not hasattr(dataset, "tensors"):
        return Streamed(dataset, device, workers)
    if setting == "auto" and device.type == "cpu":
        return Resident(dataset, device)
    if choose(setting, tensors_bytes(dataset), free_bytes(device)) == "device":
        return Resident(dataset, device)
    return Streamed(dataset, device, workers)
