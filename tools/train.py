"""MMPose-compatible entry point: `python tools/train.py CONFIG [ARGS]` == `mlpose train CONFIG [ARGS]`."""
import sys

from mlpose.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
