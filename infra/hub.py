"""The gateway's Hugging Face hub client: search models, plan a download, stream it to disk, remove it.

Synchronous on purpose: it runs in worker threads. Metadata goes through ``huggingface_hub`` (``HfApi`` with the
endpoint passed explicitly, never read from the environment at import) and its error classes; the bytes are streamed
with httpx (see ``HubClient.download`` for why not ``hf_hub_download``).

Errors are the gateway's own (``domain.errors``), translated here at the boundary: unknown repo →
``NotFound(code="repo_not_found")``, unknown revision → ``InvalidRequest(code="revision_not_found")``, not enough
disk → ``InvalidRequest(code="insufficient_storage")``, hub unreachable or 5xx → ``ProviderUnavailable`` /
``ProviderTimeout`` (retryable), corrupt bytes → ``ProviderError(code="checksum_mismatch" | "size_mismatch")``,
cancelled → ``DownloadCancelled``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

import httpx
import httpx2
from huggingface_hub import HfApi, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.utils import filter_repo_objects

from domain.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
PROVIDER = "huggingface"
PART_SUFFIX = ".part"
MODALITIES = ("text", "image", "3d")
MAX_SEARCH_LIMIT = 100
MAX_SEARCH_SCAN = 1000  # most hub results a modality-filtered search looks through
PROGRESS_INTERVAL_S = 0.1  # on_progress is called at most ~10 times a second
SEARCH_FIELDS = ["downloads", "lastModified", "library_name", "pipeline_tag", "tags"]

_TEXT_PIPELINES = {"text-generation", "text2text-generation"}
_TEXT_LIBRARIES = {"gguf", "llama.cpp", "llama-cpp", "llama-cpp-python", "ctransformers"}
_IMAGE_PIPELINES = {"text-to-image"}
_IMAGE_LIBRARIES = {"diffusers"}
_3D_PIPELINES = {"text-to-3d", "image-to-3d"}
_3D_MARKERS = {"shap-e", "shap_e", "shape"}


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
        return {"repo_id": self.repo_id, "revision": self.revision, "commit_sha": self.commit_sha,
                "files": [asdict(f) for f in self.files]}

    @classmethod
    def from_dict(cls, data: dict) -> DownloadPlan:
        return cls(repo_id=data["repo_id"], revision=data["revision"], commit_sha=data["commit_sha"],
                   files=tuple(PlannedFile(**f) for f in data["files"]))


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
        return {"repo_id": self.repo_id, "commit_sha": self.commit_sha, "path": str(self.path),
                "size_bytes": self.size_bytes, "files": [asdict(f) for f in self.files]}


class _Retryable(Exception):
    """Internal: a network failure after which the ``.part`` files are kept for a later resume."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message)
        self.error = error


def modality_hints(pipeline_tag: str | None, library: str | None, tags: Iterable[str] = (),
                   repo_id: str = "") -> list[str]:
    """Which of our modalities a hub model probably serves, from its pipeline tag, library and tags."""
    facets = {t.lower() for t in tags} | {(library or "").lower()}
    pipeline = (pipeline_tag or "").lower()
    hints: set[str] = set()
    is_3d = pipeline in _3D_PIPELINES or bool(facets & (_3D_PIPELINES | _3D_MARKERS)) or "shap-e" in repo_id.lower()
    if is_3d:
        hints.add("3d")
    if pipeline in _TEXT_PIPELINES or facets & _TEXT_LIBRARIES:
        hints.add("text")
    if pipeline in _IMAGE_PIPELINES or (facets & _IMAGE_LIBRARIES and not is_3d):
        hints.add("image")
    return [m for m in MODALITIES if m in hints]


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = json.loads(base64.urlsafe_b64decode(padded.encode()))["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidRequest("cursor is not one this server returned; start again without it",
                             param="cursor") from None
    if not isinstance(offset, int) or offset < 0:
        raise InvalidRequest("cursor is not one this server returned; start again without it", param="cursor")
    return offset


def _patterns(patterns: Sequence[str] | str | None) -> list[str] | str | None:
    return patterns if patterns is None or isinstance(patterns, str) else list(patterns)


def _safe_relative(path: str) -> PurePosixPath:
    relative = PurePosixPath(path)
    if relative.is_absolute() or not relative.parts or any(p in ("..", "") for p in relative.parts):
        raise ProviderError(f"the hub listed an unsafe file path: {path!r}", provider=PROVIDER,
                            code="unsafe_path")
    return relative


class HubClient:
    """Client of one Hugging Face hub endpoint (the public hub, a mirror, or the test fake).

    ``token`` is sent only when given: the gateway never picks up a token from the machine's HF cache.
    """

    def __init__(self, endpoint: str | None = None, *, token: str | None = None, timeout_s: float = 30.0,
                 poll_s: float = 0.5, stall_timeout_s: float = 60.0, resume_attempts: int = 3) -> None:
        self.endpoint = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.stall_timeout_s = stall_timeout_s
        self.resume_attempts = resume_attempts
        self.api = HfApi(endpoint=self.endpoint, token=token if token else False,
                         library_name="pluggably")

    @classmethod
    def from_settings(cls, settings: object, **kwargs: object) -> HubClient:
        token = settings.secret("hf_token") if hasattr(settings, "secret") else None
        return cls(endpoint=getattr(settings, "hf_endpoint", None), token=token, **kwargs)  # type: ignore[arg-type]

    # -- search -----------------------------------------------------------------------------------------------
    def search(self, query: str, modality: str | None = None, cursor: str | None = None,
               limit: int = 20) -> tuple[list[dict], str | None]:
        """One page of models whose id contains ``query``, most downloaded first, and the cursor of the next page.

        The cursor is an opaque string; inside it is an offset into the (filtered) result list. Each page asks the
        hub for ``offset + limit + 1`` models and slices, so the ``+1`` tells whether another page exists. The
        modality filter is applied here, on the hints computed from each model's pipeline tag and library (the hub
        cannot OR across pipeline tags and libraries), looking through at most ``MAX_SEARCH_SCAN`` models.
        """
        if modality is not None and modality not in MODALITIES:
            raise InvalidRequest(f"modality must be one of {', '.join(MODALITIES)}", param="modality")
        if not 1 <= limit <= MAX_SEARCH_LIMIT:
            raise InvalidRequest(f"limit must be between 1 and {MAX_SEARCH_LIMIT}", param="limit")
        offset = _decode_cursor(cursor) if cursor else 0
        wanted = offset + limit + 1
        scan = wanted if modality is None else min(MAX_SEARCH_SCAN, wanted * 4)
        while True:
            models = self._call(lambda: list(self.api.list_models(
                search=query or None, sort="downloads", limit=scan, expand=SEARCH_FIELDS)))
            results = [self._result(m) for m in models]
            if modality is not None:
                results = [r for r in results if modality in r["modality_hints"]]
            exhausted = len(models) < scan
            if len(results) >= wanted or exhausted or scan >= MAX_SEARCH_SCAN or modality is None:
                break
            scan = min(MAX_SEARCH_SCAN, scan * 4)
        page = results[offset:offset + limit]
        more = len(results) > offset + limit
        return page, _encode_cursor(offset + limit) if more else None

    @staticmethod
    def _result(model: object) -> dict:
        repo_id: str = model.id  # type: ignore[attr-defined]
        tags = list(getattr(model, "tags", None) or [])
        last_modified = getattr(model, "last_modified", None)
        return {
            "id": repo_id,
            "name": repo_id.rsplit("/", 1)[-1],
            "tags": tags,
            "modality_hints": modality_hints(getattr(model, "pipeline_tag", None),
                                             getattr(model, "library_name", None), tags, repo_id),
            "downloads": getattr(model, "downloads", None) or 0,
            "last_modified": last_modified.isoformat() if last_modified else None,
        }

    # -- plan -------------------------------------------------------------------------------------------------
    def plan(self, repo_id: str, revision: str = "main", allow_patterns: Sequence[str] | str | None = None,
             ignore_patterns: Sequence[str] | str | None = None) -> DownloadPlan:
        """Resolve ``revision`` to a commit and list the files to fetch (``allow_patterns`` as in
        ``snapshot_download``: fnmatch globs, ``*`` crosses folders)."""
        revision = revision or "main"
        info = self._call(lambda: self.api.model_info(repo_id, revision=revision, timeout=self.timeout_s),
                          repo_id=repo_id, revision=revision)
        if not info.sha:
            raise ProviderError(f"the hub did not say which commit {revision!r} of {repo_id} is",
                                provider=PROVIDER)
        entries = self._call(lambda: list(self.api.list_repo_tree(repo_id, recursive=True, revision=info.sha)),
                             repo_id=repo_id, revision=revision)
        files = [e for e in entries if isinstance(e, RepoFile)]
        chosen = list(filter_repo_objects(files, allow_patterns=_patterns(allow_patterns),
                                          ignore_patterns=_patterns(ignore_patterns), key=lambda f: f.path))
        if not chosen:
            if allow_patterns or ignore_patterns:
                raise InvalidRequest(
                    f"no file of {repo_id}@{revision} matches allow_patterns={allow_patterns!r}"
                    f"{f' ignore_patterns={ignore_patterns!r}' if ignore_patterns else ''};"
                    f" it has: {', '.join(sorted(f.path for f in files)[:20]) or 'no files'}",
                    param="allow_patterns", code="no_matching_files")
            raise InvalidRequest(f"{repo_id}@{revision} has no files to download", param="repo_id",
                                 code="no_matching_files")
        planned = []
        for f in sorted(chosen, key=lambda f: f.path):
            _safe_relative(f.path)
            planned.append(PlannedFile(path=f.path, size=int(f.size), blob_id=f.blob_id, lfs=f.lfs is not None,
                                       sha256=f.lfs.sha256 if f.lfs is not None else None))
        return DownloadPlan(repo_id=repo_id, revision=revision, commit_sha=info.sha, files=tuple(planned))

    # -- download ---------------------------------------------------------------------------------------------
    def download(self, plan: DownloadPlan, dest_dir: str | Path, on_progress: ProgressCallback | None = None,
                 cancel_event: CancelEvent | None = None, *,
                 free_bytes: Callable[[Path], int] | None = None) -> DownloadResult:
        """Fetch every file of ``plan`` into ``dest_dir`` (``dest_dir/<path in repo>``), verified.

        Not ``hf_hub_download``/``snapshot_download``: they offer no hook to cancel between chunks, no control of
        resume (they resume only inside their own cache layout, from ``.incomplete`` blobs) and no progress callback
        other than tqdm; we need all three, plus exact control of what stays on disk when a job fails. So metadata
        comes from ``huggingface_hub`` and the URLs from ``hf_hub_url``, and the bytes are streamed here with httpx.

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
        targets = {f.path: dest / _safe_relative(f.path) for f in plan.files}
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
            with httpx.Client(headers=self._headers(), follow_redirects=True,
                              timeout=httpx.Timeout(self.timeout_s, read=self.poll_s)) as http:
                done = 0
                for f in plan.files:
                    done_files[f.path] = self._fetch(http, plan, f, targets[f.path], done, progress, cancel_event)
                    done += f.size
            progress.finish()
            return DownloadResult(repo_id=plan.repo_id, commit_sha=plan.commit_sha, path=dest,
                                  files=tuple(done_files[f.path] for f in plan.files))
        except _Retryable as failure:
            log.warning("download of %s interrupted, .part files kept for resume: %s", plan.repo_id,
                        failure.error.message)
            raise failure.error from failure.__cause__
        except BaseException:
            self._discard(dest, targets.values())
            raise

    def _fetch(self, http: httpx.Client, plan: DownloadPlan, f: PlannedFile, target: Path, base: int,
               progress: _Progress, cancel_event: CancelEvent | None) -> DownloadedFile:
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
                    raise ProviderError(f"{f.path}: got {size} bytes, the hub announced {f.size}",
                                        provider=PROVIDER, code="size_mismatch")
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

    def _stream(self, http: httpx.Client, url: str, f: PlannedFile, part: Path, base: int, progress: _Progress,
                cancel_event: CancelEvent | None) -> _Hashes:
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
                failure = _Retryable(ProviderTimeout(f"the hub sent nothing for {self.stall_timeout_s:.0f}s",
                                                     provider=PROVIDER, code="hub_timeout"))
                attempts = self.resume_attempts
                failure.__cause__ = e
            except httpx.TimeoutException as e:
                failure = _Retryable(ProviderTimeout(f"timed out talking to the hub: {e}", provider=PROVIDER,
                                                     code="hub_timeout"))
                failure.__cause__ = e
            except httpx.TransportError as e:
                failure = _Retryable(ProviderUnavailable(
                    f"the connection to the hub broke while fetching {f.path} ({e}); retry to resume",
                    provider=PROVIDER, code="hub_unavailable"))
                failure.__cause__ = e
            except _Retryable as e:
                failure = e
            attempts = 0 if offset > started_at else attempts + 1  # failures in a row that brought no bytes
            if self.resume_attempts == 0 or attempts > self.resume_attempts:
                raise failure
            log.info("resuming %s at byte %d after: %s", f.path, offset, failure.error.message)
            _sleep(cancel_event, min(2.0, 0.1 * 2 ** attempts))
        return hashes

    # -- remove -----------------------------------------------------------------------------------------------
    @staticmethod
    def remove(dest_dir: str | Path) -> None:
        """Delete a downloaded model directory and everything in it (no error when it is already gone)."""
        path = Path(dest_dir)
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)

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
                code="insufficient_storage")

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
            raise _Retryable(ProviderUnavailable(f"the hub answered {status} for {plan_file.path}; retry to resume",
                                                 provider=PROVIDER, code="hub_unavailable"))
        if error_code == "RepoNotFound":
            raise NotFound("repository not found on the hub (or it is private)", code="repo_not_found")
        if error_code == "RevisionNotFound":
            raise InvalidRequest("revision not found on the hub", param="revision", code="revision_not_found")
        if status == 404:
            raise NotFound(f"{plan_file.path} is not in the repository at this commit", code="entry_not_found")
        if status in (401, 403):
            raise PermissionDenied(f"the hub refused access to {plan_file.path} ({status}); the repo may be gated:"
                                   " accept its terms and configure a token", code="repo_gated")
        raise ProviderError(f"the hub answered {status} for {plan_file.path}", provider=PROVIDER)

    def _call(self, fn: Callable, *, repo_id: str | None = None, revision: str | None = None):  # noqa: ANN202
        """Run a ``huggingface_hub`` call, translating its errors into the gateway's."""
        try:
            return fn()
        except GatedRepoError:
            raise PermissionDenied(f"{repo_id} is gated: accept its terms on the hub and configure a token",
                                   param="repo_id", code="repo_gated") from None
        except RepositoryNotFoundError:
            raise NotFound(f"no model repository {repo_id!r} on the hub (or it is private)",
                           param="repo_id", code="repo_not_found") from None
        except RevisionNotFoundError:
            raise InvalidRequest(f"{repo_id} has no revision {revision!r}; use a branch, tag or commit sha",
                                 param="revision", code="revision_not_found") from None
        except EntryNotFoundError:
            raise NotFound(f"not found in {repo_id}@{revision}", code="entry_not_found") from None
        except HFValidationError as e:
            raise InvalidRequest(f"invalid repository id {repo_id!r}: {e}", param="repo_id",
                                 code="invalid_repo_id") from None
        except OfflineModeIsEnabled as e:
            raise ProviderUnavailable(f"hub access is disabled (HF_HUB_OFFLINE): {e}", provider=PROVIDER,
                                      code="hub_unavailable") from None
        except HfHubHTTPError as e:
            status = e.response.status_code if e.response is not None else 0
            if status == 429 or status >= 500:
                raise ProviderUnavailable(f"the hub answered {status}; try again later", provider=PROVIDER,
                                          code="hub_unavailable") from e
            raise ProviderError(f"the hub refused the request ({status})", provider=PROVIDER) from e
        except httpx2.TimeoutException as e:  # huggingface_hub's own HTTP client
            raise ProviderTimeout(f"the hub at {self.endpoint} did not answer in time: {e}", provider=PROVIDER,
                                  code="hub_timeout") from e
        except httpx2.TransportError as e:
            raise ProviderUnavailable(f"cannot reach the hub at {self.endpoint}: {e}", provider=PROVIDER,
                                      code="hub_unavailable") from e


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
        raise ProviderError(f"{f.path}: sha256 {sha256} does not match the hub's {f.sha256}",
                            provider=PROVIDER, code="checksum_mismatch")
    if f.sha256 is None and hashes.git is not None and f.blob_id and hashes.git.hexdigest() != f.blob_id:
        raise ProviderError(f"{f.path}: content does not match the hub's git object id {f.blob_id}",
                            provider=PROVIDER, code="checksum_mismatch")
    return sha256
