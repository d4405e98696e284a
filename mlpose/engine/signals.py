"""SIGINT/SIGTERM during training: finish the current step, checkpoint, exit (a second signal aborts)."""
from __future__ import annotations

import logging
import signal

import torch


class StopSignal:
    """Records SIGINT/SIGTERM between :meth:`install` and :meth:`restore`; ranks agree on it.

    Args:
        world_size: processes in the group; with more than one, :meth:`requested` all-reduces
            the flag every 10 iterations so every rank stops at the same step.
        device: where the all-reduced flag lives (the backend's device).
        logger: gets one warning line when a signal arrives.
    """

    def __init__(self, world_size: int, device: torch.device, logger: logging.Logger):
        self.world_size, self.device, self.logger = world_size, device, logger
        self.received = False
        self._saved: dict = {}  # signal -> the handler install() replaced

    def install(self) -> None:
        def handler(signum, frame):
            if self.received:
                raise KeyboardInterrupt
            self.received = True
            self.logger.warning(f"received {signal.Signals(signum).name}: stopping after this step")

        self._saved = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def requested(self, iteration: int) -> bool:
        """Whether to stop after ``iteration`` (the same answer on every rank)."""
        if self.world_size == 1:
            return self.received
        if iteration % 10:  # ranks agree on stopping every 10 iterations (one tiny all-reduce)
            return False
        flag = torch.tensor([float(self.received)], device=self.device)
        torch.distributed.all_reduce(flag)
        return bool(flag.item())

    def restore(self) -> None:
        """Put back the handlers :meth:`install` replaced (a caller, e.g. a sweep, gets its own)."""
        for sig, previous in self._saved.items():
            signal.signal(sig, previous)
        self._saved = {}
