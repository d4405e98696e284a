"""MMPose-compatible entry point: `python tools/test.py CONFIG CHECKPOINT [ARGS]` == `mlpose test ...`."""
import sys

from mlpose.cli import main

if __name__ == "__main__":
    main(["test", *sys.argv[1:]])
