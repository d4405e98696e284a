"""Process-group set-up for the launchers MMPose users know: pytorch (torchrun), slurm, mpi.

Each launcher only differs in where rank, world size and the master address come from; all end
in ``torch.distributed.init_process_group`` with NCCL on GPUs and gloo on CPU.
"""
from __future__ import annotations

import os
import subprocess
from datetime import timedelta

import torch
import torch.distributed as dist

from mlpose.errors import ConfigError


def _env(name: str, launcher: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise ConfigError(f"--launcher {launcher}: environment variable {name} is not set; start the job with "
                          f"{'torchrun / tools/dist_train.sh' if launcher == 'pytorch' else 'srun / tools/slurm_train.sh' if launcher == 'slurm' else 'mpirun'}")
    return value


def slurm_master_addr(nodelist: str) -> str:
    """First host of a SLURM node list (``node[01-04],gpu7`` -> ``node01``), via scontrol when present."""
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True)
        return out.stdout.split()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        head = nodelist.split(",")[0]
        if "[" in head:
            prefix, rest = head.split("[", 1)
            head = prefix + rest.rstrip("]").split(",")[0].split("-")[0]
        return head


def init_distributed(launcher: str, backend: str | None = None, port: int = 29500) -> tuple[int, int, int]:
    """Initialise torch.distributed for ``launcher``; returns ``(rank, local_rank, world_size)``.

    ``launcher='none'`` is a single process and initialises nothing.
    """
    if launcher == "none":
        return 0, 0, 1
    if launcher == "pytorch":
        rank, world = int(_env("RANK", launcher)), int(_env("WORLD_SIZE", launcher))
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
    elif launcher == "slurm":
        rank, world = int(_env("SLURM_PROCID", launcher)), int(_env("SLURM_NTASKS", launcher))
        local_rank = int(os.environ.get("SLURM_LOCALID", rank % max(torch.cuda.device_count(), 1)))
        os.environ.setdefault("MASTER_ADDR", slurm_master_addr(_env("SLURM_NODELIST", launcher)))
        os.environ.setdefault("MASTER_PORT", str(port))
    elif launcher == "mpi":
        rank, world = int(_env("OMPI_COMM_WORLD_RANK", launcher)), int(_env("OMPI_COMM_WORLD_SIZE", launcher))
        local_rank = int(os.environ.get("OMPI_COMM_WORLD_LOCAL_RANK", rank))
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(port))
    else:
        raise ConfigError(f"--launcher {launcher!r}: use none, pytorch, slurm or mpi")
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(local_rank))
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world,
                                timeout=timedelta(minutes=30))
    return rank, local_rank, world


def device_for(local_rank: int) -> torch.device:
    """CUDA device of this local rank when a GPU is visible, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN has bfloat16 kernels for this CPU (it needs AVX-512 at least; AVX512-BF16 and
    AMX make them fast)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN
        return False


def slow_bf16_note(device: torch.device) -> str | None:
    """A warning line for bfloat16 autocast on ``device``, or None where bf16 has fast kernels.

    On a CPU with AVX2 only (many AMD EPYC and older Xeon parts) oneDNN has no bf16 convolutions, so
    autocast sends every convolution to ATen's reference ``_slow_conv2d`` kernels: RTMPose-t trained
    9x slower per step than in fp32 on such an EPYC (``benchmarks/zoo_speed.py --profile rtmpose-t``).
    """
    if device.type != "cpu" or cpu_has_native_bf16():
        return None
    return ("--amp: this CPU has no bfloat16 kernels in oneDNN (they need AVX-512 or newer), so bf16 autocast "
            "runs convolutions through slow reference kernels, several times slower than fp32; drop --amp here")


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
