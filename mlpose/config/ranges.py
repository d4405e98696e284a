"""Load-time range checks: counts and intervals that must be positive (a negative batch size is
a traceback deep in the DataLoader, ``max_epochs=0`` an empty run that looks successful)."""
from __future__ import annotations

from mlpose.errors import ConfigError

#: dotted key -> smallest allowed value (checked when the key is set and holds an int)
MINIMUM = {
    "train_cfg.max_epochs": 1, "train_cfg.val_interval": 1, "train_cfg.val_begin": 0,
    "train_dataloader.batch_size": 1, "val_dataloader.batch_size": 1, "test_dataloader.batch_size": 1,
    "default_hooks.logger.interval": 1, "default_hooks.checkpoint.interval": 1,
    "optim_wrapper.accumulative_counts": 1,
}

_WHY = {
    "train_cfg.max_epochs": "a run needs at least one epoch to train",
}


def check_ranges(cfg: dict, source: str) -> None:
    """Raise a ConfigError naming ``source``, the key and the value below its minimum."""
    for key, low in MINIMUM.items():
        node = cfg
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, int) and not isinstance(node, bool) and node < low:
            why = _WHY.get(key, f"it must be >= {low}")
            raise ConfigError(f"{source}: {key}={node} is out of range: {why}; set {key} to {low} or more")
