"""What this machine can train on, for the app's device picker (which never imports torch itself).

The worker process sends `local_devices()` in its ready message: the CPU with the machine's RAM,
then every CUDA GPU with its name and memory, so the user picks "cuda:1 · NVIDIA H200 · 139.8 GiB"
rather than a bare "cuda".
"""

from __future__ import annotations


def local_devices() -> list[dict]:
    """[{"id", "kind", "name", "memory_bytes"}] — "cpu" first, then "cuda:0", "cuda:1", …"""
    import torch

    from ..trainability import machine_memory

    ram, _ = machine_memory("cpu")
    devices = [{"id": "cpu", "kind": "cpu", "name": "CPU", "memory_bytes": ram}]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            devices.append({"id": f"cuda:{index}", "kind": "cuda", "name": props.name,
                            "memory_bytes": props.total_memory})
    return devices
