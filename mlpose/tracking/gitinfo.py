"""Git commit and dirty flag of the code a run executes, for the run's tags."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GitInfo:
    """Where the running code comes from.

    Attributes:
        commit: full SHA of HEAD.
        dirty: tracked files differ from HEAD (untracked files are ignored: work_dirs,
            datasets and mlflow.db must not make every run dirty).
        branch: current branch, or None when HEAD is detached.
        root: top-level folder of the repository.
    """

    commit: str
    dirty: bool
    branch: str | None
    root: str


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None  # no git binary, or a hung network filesystem: tags are optional
    return done.stdout.strip() if done.returncode == 0 else None


def git_info(path: str | Path) -> GitInfo | None:
    """Git facts for the repository holding ``path`` (a file or folder), or None if there is none."""
    path = Path(path).resolve()
    folder = path if path.is_dir() else path.parent
    root = _git(["rev-parse", "--show-toplevel"], folder)
    commit = _git(["rev-parse", "HEAD"], folder) if root else None
    if not root or not commit:
        return None
    status = _git(["status", "--porcelain", "--untracked-files=no"], folder)
    branch = _git(["symbolic-ref", "--short", "-q", "HEAD"], folder)
    return GitInfo(commit=commit, dirty=bool(status), branch=branch or None, root=root)


def code_git_info() -> GitInfo | None:
    """Git facts for the mlpose source tree when it is a checkout, else for the working directory
    (an installed mlpose run from a user's own experiment repository)."""
    return git_info(Path(__file__).resolve().parents[2]) or git_info(Path.cwd())
