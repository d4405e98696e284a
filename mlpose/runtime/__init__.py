"""Runtime helpers below every other layer: the process group (``dist``, ``launch``), seeding
and RNG state (``randomness``), glibc malloc settings (``malloc``), atomic checkpoint files
(``checkpoint_io``) and the progress bar (``progress``)."""
