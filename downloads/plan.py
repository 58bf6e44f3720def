"""What a download is: a plan pinned to one commit (its files, sizes and checksums), and what it produced.

Plain data, free of ``huggingface_hub``: the download worker and the gateway read plans even where the hub extra is
not installed. The plan is stored in ``DownloadJob.Requested`` (``to_dict``), so every attempt fetches the same files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from domain.errors import GatewayError


class DownloadCancelled(GatewayError):
    """The download was cancelled through its ``cancel_event``; its files were removed."""

    code = "cancelled"
    type = "cancelled"


class CancelEvent(Protocol):
    def is_set(self) -> bool: ...


ProgressCallback = Callable[[int, int, str], None]


@dataclass(frozen=True)
class PlannedFile:
    path: str  # relative to the repo root, POSIX separators
    size: int
    sha256: str | None  # LFS files only: the hub gives it
    blob_id: str  # git object id; for a regular file, sha1 of "blob <size>\0<content>"
    lfs: bool = False


@dataclass(frozen=True)
class DownloadPlan:
    """What to fetch: a repo pinned to one commit, and the files (with sizes and checksums) to take from it."""

    repo_id: str
    revision: str  # as asked (branch, tag or sha)
    commit_sha: str  # what it resolved to; every file is fetched at this commit
    files: tuple[PlannedFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_dict(self) -> dict:
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "commit_sha": self.commit_sha,
            "files": [asdict(f) for f in self.files],
        }

    @classmethod
    def from_dict(cls, data: dict) -> DownloadPlan:
        return cls(
            repo_id=data["repo_id"],
            revision=data["revision"],
            commit_sha=data["commit_sha"],
            files=tuple(PlannedFile(**f) for f in data["files"]),
        )


@dataclass(frozen=True)
class DownloadedFile:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class DownloadResult:
    repo_id: str
    commit_sha: str
    path: Path  # the destination directory
    files: tuple[DownloadedFile, ...]

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def sha256(self) -> dict[str, str]:
        return {f.path: f.sha256 for f in self.files}

    def to_dict(self) -> dict:
        return {
            "repo_id": self.repo_id,
            "commit_sha": self.commit_sha,
            "path": str(self.path),
            "size_bytes": self.size_bytes,
            "files": [asdict(f) for f in self.files],
        }
