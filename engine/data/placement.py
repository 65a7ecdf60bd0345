"""Deciding where a run's data lives: on the device for the run, or streamed from the host.

`training.data_placement` is "device", "stream" or "auto"; auto keeps the data on the device when
its estimated size is at most `DEVICE_SHARE` of the device's free memory (the rest is left to the
model, its gradients, optimizer state and activations) and streams it otherwise. On the CPU the
"device" is the host's RAM, so a dataset already loaded in memory always stays (moving it would
change nothing); the choice matters there only for an image folder, which then is either decoded
whole up front or read lazily by the DataLoader's workers.
"""

from __future__ import annotations

import os
from pathlib import Path

PLACEMENTS = ("auto", "device", "stream")
DEVICE_SHARE = 0.5
MAX_AUTO_WORKERS = 4  # DataLoader processes chosen by "auto": enough to keep ahead of a GPU on decoding


def choose(setting: str, size_bytes: int, free_bytes: int) -> str:
    """"device" or "stream": the setting itself, or for "auto" whether the data fits in the device's share."""
    if setting != "auto":
        return setting
    return "device" if size_bytes <= DEVICE_SHARE * free_bytes else "stream"


def host_available_bytes() -> int:
    """RAM that can be used without swapping (Linux MemAvailable; physical pages elsewhere)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def free_bytes(device) -> int:
    """Free memory of a torch device: the GPU's free memory (bounded by host RAM, which the data passes
    through on its way there), or the host's available RAM for the CPU."""
    host = host_available_bytes()
    if device.type == "cuda":
        import torch

        return min(torch.cuda.mem_get_info(device)[0], host)
    return host


def tensors_bytes(*datasets) -> int:
    """Bytes held by TensorDatasets' tensors."""
    return sum(t.numel() * t.element_size() for d in datasets for t in getattr(d, "tensors", ()))


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, bounded by a cgroup CPU quota (containers)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def auto_workers() -> int:
    """DataLoader worker processes for "auto": one core is left to the training process itself."""
    return max(1, min(MAX_AUTO_WORKERS, usable_cores() - 1))
