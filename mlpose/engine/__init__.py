"""Training/test engine: the loop, optimisation, checkpoints, distributed set-up, logging."""
