"""Training/test engine: the jobs (train, test, evaluate, resume), the run context, the parts of a
training run and their builders, the loop, optimisation, schedules, checkpoints and the log line.
See docs/architecture.md for how they fit together."""
