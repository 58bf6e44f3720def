"""The byte transfer of a download plan into a model's folder: resumable, verified, cancellable within a poll.

Hand-written on purpose, beside ``huggingface_hub``'s metadata calls (see ``HubClient``): its own transfer
(``hf_hub_download``, ``snapshot_download``) cannot keep what the download jobs promise. It writes into a
process-unique ``*.incomplete`` file that it deletes on failure (no resume after a worker dies), calls its progress
hook once per 10 MiB chunk (no cancel within a second, no steady progress), retries a stalled read five times with
a one-second sleep and no way to stop it, does not resume after a 5xx and checks sizes but not checksums. The
whole argument is in docs/architecture/decisions.md ("Downloads: what is hand-written").

- Each file streams into ``<file>.part`` beside its place; a ``.part`` already on disk (a worker killed
  mid-download, the job redelivered) is resumed with ``Range: bytes=<size of .part>-``; a complete file already in
  place is verified and kept. The bytes are then checked (size; sha256 for LFS files, the git blob sha1 for the
  others) and the file renamed into place.
- ``cancel_event.is_set()`` is checked between chunks and at least every ``poll_s`` while the connection stalls.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

import httpx
from huggingface_hub import hf_hub_url

from domain.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)
from downloads.plan import (
    CancelEvent,
    DownloadCancelled,
    DownloadedFile,
    DownloadPlan,
    DownloadResult,
    PlannedFile,
    ProgressCallback,
)

log = logging.getLogger(__name__)

PROVIDER = "huggingface"
PART_SUFFIX = ".part"
PROGRESS_INTERVAL_S = 0.1  # on_progress is called at most ~10 times a second


class _Retryable(Exception):
    """Internal: a network failure after which the ``.part`` files are kept for a later resume."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message)
        self.error = error


def safe_relative(path: str) -> PurePosixPath:
    relative = PurePosixPath(path)
    if relative.is_absolute() or not relative.parts or any(p in ("..", "") for p in relative.parts):
        raise ProviderError(f"the hub listed an unsafe file path: {path!r}", provider=PROVIDER, code="unsafe_path")
    return relative


class Transfer:
    """Streams the files of plans from one hub endpoint (the public hub, a mirror, or the test fake)."""

    def __init__(
        self,
        endpoint: str,
        *,
        token: str | None = None,
        timeout_s: float = 30.0,
        poll_s: float = 0.5,
        stall_timeout_s: float = 60.0,
        resume_attempts: int = 3,
    ) -> None:
        self.endpoint = endpoint
        self.token = token
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.stall_timeout_s = stall_timeout_s
        self.resume_attempts = resume_attempts

    def download(
        self,
        plan: DownloadPlan,
        dest_dir: str | Path,
        on_progress: ProgressCallback | None = None,
        cancel_event: CancelEvent | None = None,
        *,
        free_bytes: Callable[[Path], int] | None = None,
    ) -> DownloadResult:
        """Fetch every file of ``plan`` into ``dest_dir`` (``dest_dir/<path in repo>``), verified.

        - Each file streams into ``<file>.part``; a ``.part`` already on disk (a worker killed mid-download, the
          job redelivered) is resumed with ``Range: bytes=<size of .part>-``; a complete file already in place is
          verified and kept. Then the file is checked (size; sha256 for LFS files, the git blob sha1 for the
          others) and renamed into place.
        - ``on_progress(bytes_done, bytes_total, current_file)``: at most every ``PROGRESS_INTERVAL_S`` plus a
          final call with ``bytes_done == bytes_total``.
        - ``cancel_event.is_set()`` is checked between chunks and at least every ``poll_s`` even when the
          connection stalls (a stalled read is abandoned and resumed with a Range request); cancelling removes the
          files of the plan and raises ``DownloadCancelled``.
        - Free disk space (``free_bytes(dir)``, default ``shutil.disk_usage``) must cover the bytes still to fetch,
          or ``InvalidRequest(code="insufficient_storage")`` is raised before anything is written.
        - What stays on disk when it fails: for a retryable network failure (connection dropped, timeout, hub 5xx
          or 429; raised as ``ProviderUnavailable``/``ProviderTimeout``, ``retryable`` True) the ``.part`` files and
          completed files stay, so a retry resumes. Any other failure (cancel, checksum or size mismatch, a 4xx,
          a disk error) removes every file of the plan from ``dest_dir`` and the directories left empty, so no
          partial directory remains. Files in ``dest_dir`` that the plan does not name are never touched.
        """
        dest = Path(dest_dir)
        targets = {f.path: dest / safe_relative(f.path) for f in plan.files}
        try:
            done_files: dict[str, DownloadedFile] = {}
            present = 0
            for f in plan.files:
                target = targets[f.path]
                if target.is_file() and target.stat().st_size == f.size:
                    present += f.size
                elif _part(target).is_file():
                    present += min(_part(target).stat().st_size, f.size)
            self._check_space(dest, plan.total_bytes - present, free_bytes)
            dest.mkdir(parents=True, exist_ok=True)
            progress = _Progress(on_progress, plan.total_bytes)
            progress.update(present, plan.files[0].path if plan.files else "", force=True)
            with httpx.Client(
                headers=self._headers(), follow_redirects=True, timeout=httpx.Timeout(self.timeout_s, read=self.poll_s)
            ) as http:
                done = 0
                for f in plan.files:
                    done_files[f.path] = self._fetch(http, plan, f, targets[f.path], done, progress, cancel_event)
                    done += f.size
            progress.finish()
            return DownloadResult(
                repo_id=plan.repo_id,
                commit_sha=plan.commit_sha,
                path=dest,
                files=tuple(done_files[f.path] for f in plan.files),
            )
        except _Retryable as failure:
            log.warning(
                "download of %s interrupted, .part files kept for resume: %s", plan.repo_id, failure.error.message
            )
            raise failure.error from failure.__cause__
        except BaseException:
            self._discard(dest, targets.values())
            raise

    def _fetch(
        self,
        http: httpx.Client,
        plan: DownloadPlan,
        f: PlannedFile,
        target: Path,
        base: int,
        progress: _Progress,
        cancel_event: CancelEvent | None,
    ) -> DownloadedFile:
        part = _part(target)
        if target.is_file():
            if target.stat().st_size == f.size:
                try:
                    sha256 = _verify(f, _hash_file(target, f))
                except ProviderError:
                    log.warning("%s on disk does not match the hub; fetching it again", target)
                else:
                    progress.update(base + f.size, f.path, force=True)
                    return DownloadedFile(path=f.path, size=f.size, sha256=sha256)
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        url = hf_hub_url(plan.repo_id, f.path, revision=plan.commit_sha, endpoint=self.endpoint)
        for attempt in (1, 2):
            resumed = part.is_file() and part.stat().st_size > 0
            hashes = self._stream(http, url, f, part, base, progress, cancel_event)
            size = part.stat().st_size
            try:
                if size != f.size:
                    raise ProviderError(
                        f"{f.path}: got {size} bytes, the hub announced {f.size}",
                        provider=PROVIDER,
                        code="size_mismatch",
                    )
                sha256 = _verify(f, hashes)
                break
            except ProviderError:
                part.unlink(missing_ok=True)
                if resumed and attempt == 1:  # the kept bytes may be what was bad: one clean retry
                    log.warning("%s failed verification after a resume; fetching it again from the start", f.path)
                    progress.rewind(base)
                    continue
                raise
        os.replace(part, target)
        return DownloadedFile(path=f.path, size=f.size, sha256=sha256)

    def _stream(
        self,
        http: httpx.Client,
        url: str,
        f: PlannedFile,
        part: Path,
        base: int,
        progress: _Progress,
        cancel_event: CancelEvent | None,
    ) -> _Hashes:
        """Stream ``url`` onto the end of ``part`` until the file is whole; return its hashes.

        A dropped connection or a 5xx/429 is resumed here, from the bytes on disk, while no more than
        ``resume_attempts`` failures in a row bring no new bytes (0: never resume here; the caller retries). A read
        that stalls for ``poll_s`` is abandoned (to look at ``cancel_event``) and resumed, until nothing has come
        for ``stall_timeout_s``.
        """
        hashes = _Hashes(f)
        if part.is_file():
            if part.stat().st_size > f.size:
                part.unlink()
            else:
                _feed_file(hashes, part)
        offset = part.stat().st_size if part.is_file() else 0
        stalled_since: float | None = None
        attempts = 0
        while offset < f.size or not part.is_file():
            _check_cancel(cancel_event)
            started_at = offset
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            try:
                with http.stream("GET", url, headers=headers) as response:
                    if response.status_code == 416:
                        break  # nothing left to send: the size check decides
                    self._raise_for_status(response, plan_file=f)
                    mode = "ab"
                    if offset and response.status_code != 206:  # the server ignored Range: start over
                        mode, offset, started_at, hashes = "wb", 0, 0, _Hashes(f)
                    with open(part, mode) as out:
                        for chunk in response.iter_raw():
                            _check_cancel(cancel_event)
                            out.write(chunk)
                            hashes.update(chunk)
                            offset += len(chunk)
                            stalled_since = None
                            progress.update(base + min(offset, f.size), f.path)
                    if offset < f.size:
                        raise httpx.RemoteProtocolError("the hub closed the response before the end of the file")
                continue
            except httpx.ReadTimeout as e:  # nothing for poll_s: look at cancel, then resume with a Range request
                _check_cancel(cancel_event)
                if offset > started_at:
                    stalled_since = None
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since <= self.stall_timeout_s:
                    continue
                failure = _Retryable(
                    ProviderTimeout(
                        f"the hub sent nothing for {self.stall_timeout_s:.0f}s", provider=PROVIDER, code="hub_timeout"
                    )
                )
                attempts = self.resume_attempts
                failure.__cause__ = e
            except httpx.TimeoutException as e:
                failure = _Retryable(
                    ProviderTimeout(f"timed out talking to the hub: {e}", provider=PROVIDER, code="hub_timeout")
                )
                failure.__cause__ = e
            except httpx.TransportError as e:
                failure = _Retryable(
                    ProviderUnavailable(
                        f"the connection to the hub broke while fetching {f.path} ({e}); retry to resume",
                        provider=PROVIDER,
                        code="hub_unavailable",
                    )
                )
                failure.__cause__ = e
            except _Retryable as e:
                failure = e
            attempts = 0 if offset > started_at else attempts + 1  # failures in a row that brought no bytes
            if self.resume_attempts == 0 or attempts > self.resume_attempts:
                raise failure
            log.info("resuming %s at byte %d after: %s", f.path, offset, failure.error.message)
            _sleep(cancel_event, min(2.0, 0.1 * 2**attempts))
        return hashes

    # -- helpers ----------------------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"Accept-Encoding": "identity", "User-Agent": "pluggably"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    @staticmethod
    def _check_space(dest: Path, needed: int, free_bytes: Callable[[Path], int] | None) -> None:
        probe = dest
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        free = free_bytes(probe) if free_bytes is not None else shutil.disk_usage(probe).free
        if needed > free:
            raise InvalidRequest(
                f"not enough disk space for this model: {needed:,} bytes to download, {free:,} free under {probe};"
                " free some space or choose a smaller model or fewer files (allow_patterns)",
                code="insufficient_storage",
            )

    @staticmethod
    def _discard(dest: Path, targets: Iterable[Path]) -> None:
        for target in targets:
            for path in (target, _part(target)):
                try:
                    path.unlink(missing_ok=True)
                except OSError:
                    log.warning("could not remove %s", path, exc_info=True)
            parent = target.parent
            while parent != dest.parent and parent.is_relative_to(dest):
                try:
                    parent.rmdir()  # only when empty
                except OSError:
                    break
                parent = parent.parent

    def _raise_for_status(self, response: httpx.Response, plan_file: PlannedFile) -> None:
        status = response.status_code
        if status < 400:
            return
        response.read()
        error_code = response.headers.get("X-Error-Code")
        if status == 429 or status >= 500:
            raise _Retryable(
                ProviderUnavailable(
                    f"the hub answered {status} for {plan_file.path}; retry to resume",
                    provider=PROVIDER,
                    code="hub_unavailable",
                )
            )
        if error_code == "RepoNotFound":
            raise NotFound("repository not found on the hub (or it is private)", code="repo_not_found")
        if error_code == "RevisionNotFound":
            raise InvalidRequest("revision not found on the hub", param="revision", code="revision_not_found")
        if status == 404:
            raise NotFound(f"{plan_file.path} is not in the repository at this commit", code="entry_not_found")
        if status in (401, 403):
            raise PermissionDenied(
                f"the hub refused access to {plan_file.path} ({status}); the repo may be gated:"
                " accept its terms and configure a token",
                code="repo_gated",
            )
        raise ProviderError(f"the hub answered {status} for {plan_file.path}", provider=PROVIDER)


class _Hashes:
    """sha256 of the bytes, plus the git blob sha1 when the file is not in LFS (to check it against its oid)."""

    def __init__(self, f: PlannedFile) -> None:
        self.sha256 = hashlib.sha256()
        self.git = None if f.lfs else hashlib.sha1(b"blob %d\0" % f.size)

    def update(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        if self.git is not None:
            self.git.update(chunk)


class _Progress:
    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback = callback
        self.total = total
        self.done = 0
        self.current = ""
        self.last_call = 0.0

    def update(self, done: int, current: str, *, force: bool = False) -> None:
        self.done, self.current = max(self.done, done), current
        now = time.monotonic()
        if self.callback is not None and (force or now - self.last_call >= PROGRESS_INTERVAL_S):
            self.last_call = now
            self.callback(self.done, self.total, current)

    def rewind(self, done: int) -> None:
        self.done = done  # a file restarts from zero; the next reports go down once, then up again

    def finish(self) -> None:
        if self.callback is not None:
            self.callback(self.total, self.total, self.current)


def _part(target: Path) -> Path:
    return target.with_name(target.name + PART_SUFFIX)


def _check_cancel(cancel_event: CancelEvent | None) -> None:
    if cancel_event is not None and cancel_event.is_set():
        raise DownloadCancelled("the download was cancelled")


def _sleep(cancel_event: CancelEvent | None, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        _check_cancel(cancel_event)
        time.sleep(min(left, 0.05))
    _check_cancel(cancel_event)


def _feed_file(hashes: _Hashes, path: Path) -> None:
    with open(path, "rb") as source:
        while chunk := source.read(1 << 20):
            hashes.update(chunk)


def _hash_file(path: Path, f: PlannedFile) -> _Hashes:
    hashes = _Hashes(f)
    _feed_file(hashes, path)
    return hashes


def _verify(f: PlannedFile, hashes: _Hashes) -> str:
    """Check the bytes against what the hub announced; return the sha256."""
    sha256 = hashes.sha256.hexdigest()
    if f.sha256 is not None and sha256 != f.sha256:
        raise ProviderError(
            f"{f.path}: sha256 {sha256} does not match the hub's {f.sha256}",
            provider=PROVIDER,
            code="checksum_mismatch",
        )
    if f.sha256 is None and hashes.git is not None and f.blob_id and hashes.git.hexdigest() != f.blob_id:
        raise ProviderError(
            f"{f.path}: content does not match the hub's git object id {f.blob_id}",
            provider=PROVIDER,
            code="checksum_mismatch",
        )
    return sha256
