"""The gateway's Hugging Face hub client: search models, plan a download, fetch it to disk, remove it.

Synchronous on purpose: it runs in worker threads. Metadata goes through ``huggingface_hub`` (``HfApi`` with the
endpoint passed explicitly, never read from the environment at import; ``filter_repo_objects`` for
``allow_patterns``, with ``snapshot_download``'s semantics) and its error classes; the bytes through
``downloads.transfer`` (which says why it is not ``hf_hub_download``).

Errors are the gateway's own (``domain.errors``), translated here at the boundary: unknown repo →
``NotFound(code="repo_not_found")``, unknown revision → ``InvalidRequest(code="revision_not_found")``, not enough
disk → ``InvalidRequest(code="insufficient_storage")``, hub unreachable or 5xx → ``ProviderUnavailable`` /
``ProviderTimeout`` (retryable), corrupt bytes → ``ProviderError(code="checksum_mismatch" | "size_mismatch")``,
cancelled → ``DownloadCancelled``.
"""

from __future__ import annotations

import base64
import binascii
import json
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx2
from huggingface_hub import HfApi
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import ExpandModelProperty_T, RepoFile
from huggingface_hub.utils import filter_repo_objects

from domain.errors import (
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
    DownloadPlan,
    DownloadResult,
    PlannedFile,
    ProgressCallback,
)
from downloads.transfer import PROVIDER, Transfer, safe_relative

T = TypeVar("T")

__all__ = ["DownloadCancelled", "DownloadPlan", "DownloadResult", "HubClient", "modality_hints"]

DEFAULT_ENDPOINT = "https://huggingface.co"
MODALITIES = ("text", "image", "3d")
MAX_SEARCH_LIMIT = 100
MAX_SEARCH_SCAN = 1000  # most hub results a modality-filtered search looks through
SEARCH_FIELDS: list[ExpandModelProperty_T] = ["downloads", "lastModified", "library_name", "pipeline_tag", "tags"]

_TEXT_PIPELINES = {"text-generation", "text2text-generation"}
_TEXT_LIBRARIES = {"gguf", "llama.cpp", "llama-cpp", "llama-cpp-python", "ctransformers"}
_IMAGE_PIPELINES = {"text-to-image"}
_IMAGE_LIBRARIES = {"diffusers"}
_3D_PIPELINES = {"text-to-3d", "image-to-3d"}
_3D_MARKERS = {"shap-e", "shap_e", "shape"}


def modality_hints(
    pipeline_tag: str | None, library: str | None, tags: Iterable[str] = (), repo_id: str = ""
) -> list[str]:
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
        raise InvalidRequest("cursor is not one this server returned; start again without it", param="cursor") from None
    if not isinstance(offset, int) or offset < 0:
        raise InvalidRequest("cursor is not one this server returned; start again without it", param="cursor")
    return offset


def _patterns(patterns: Sequence[str] | str | None) -> list[str] | str | None:
    return patterns if patterns is None or isinstance(patterns, str) else list(patterns)


class HubClient:
    """Client of one Hugging Face hub endpoint (the public hub, a mirror, or the test fake).

    ``token`` is sent only when given: the gateway never picks up a token from the machine's HF cache.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        token: str | None = None,
        timeout_s: float = 30.0,
        poll_s: float = 0.5,
        stall_timeout_s: float = 60.0,
        resume_attempts: int = 3,
    ) -> None:
        self.endpoint = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
        self.timeout_s = timeout_s
        self.api = HfApi(endpoint=self.endpoint, token=token if token else False, library_name="pluggably")
        self.transfer = Transfer(
            self.endpoint,
            token=token,
            timeout_s=timeout_s,
            poll_s=poll_s,
            stall_timeout_s=stall_timeout_s,
            resume_attempts=resume_attempts,
        )

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> HubClient:
        return cls(endpoint=settings.hf_endpoint, token=settings.secret("hf_token"), **kwargs)

    # -- search -----------------------------------------------------------------------------------------------
    def search(
        self, query: str, modality: str | None = None, cursor: str | None = None, limit: int = 20
    ) -> tuple[list[dict], str | None]:
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

        def listing(limit: int) -> Callable[[], list[Any]]:
            return lambda: list(
                self.api.list_models(search=query or None, sort="downloads", limit=limit, expand=SEARCH_FIELDS)
            )

        while True:
            models = self._call(listing(scan))
            results = [self._result(m) for m in models]
            if modality is not None:
                results = [r for r in results if modality in r["modality_hints"]]
            exhausted = len(models) < scan
            if len(results) >= wanted or exhausted or scan >= MAX_SEARCH_SCAN or modality is None:
                break
            scan = min(MAX_SEARCH_SCAN, scan * 4)
        page = results[offset : offset + limit]
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
            "modality_hints": modality_hints(
                getattr(model, "pipeline_tag", None), getattr(model, "library_name", None), tags, repo_id
            ),
            "downloads": getattr(model, "downloads", None) or 0,
            "last_modified": last_modified.isoformat() if last_modified else None,
        }

    # -- plan -------------------------------------------------------------------------------------------------
    def plan(
        self,
        repo_id: str,
        revision: str = "main",
        allow_patterns: Sequence[str] | str | None = None,
        ignore_patterns: Sequence[str] | str | None = None,
    ) -> DownloadPlan:
        """Resolve ``revision`` to a commit and list the files to fetch (``allow_patterns`` as in
        ``snapshot_download``: fnmatch globs, ``*`` crosses folders)."""
        revision = revision or "main"
        info = self._call(
            lambda: self.api.model_info(repo_id, revision=revision, timeout=self.timeout_s),
            repo_id=repo_id,
            revision=revision,
        )
        if not info.sha:
            raise ProviderError(f"the hub did not say which commit {revision!r} of {repo_id} is", provider=PROVIDER)
        entries = self._call(
            lambda: list(self.api.list_repo_tree(repo_id, recursive=True, revision=info.sha)),
            repo_id=repo_id,
            revision=revision,
        )
        files = [e for e in entries if isinstance(e, RepoFile)]
        chosen = list(
            filter_repo_objects(
                files,
                allow_patterns=_patterns(allow_patterns),
                ignore_patterns=_patterns(ignore_patterns),
                key=lambda f: f.path,
            )
        )
        if not chosen:
            if allow_patterns or ignore_patterns:
                raise InvalidRequest(
                    f"no file of {repo_id}@{revision} matches allow_patterns={allow_patterns!r}"
                    f"{f' ignore_patterns={ignore_patterns!r}' if ignore_patterns else ''};"
                    f" it has: {', '.join(sorted(f.path for f in files)[:20]) or 'no files'}",
                    param="allow_patterns",
                    code="no_matching_files",
                )
            raise InvalidRequest(
                f"{repo_id}@{revision} has no files to download", param="repo_id", code="no_matching_files"
            )
        planned = []
        for f in sorted(chosen, key=lambda f: f.path):
            safe_relative(f.path)
            planned.append(
                PlannedFile(
                    path=f.path,
                    size=int(f.size),
                    blob_id=f.blob_id,
                    lfs=f.lfs is not None,
                    sha256=f.lfs.sha256 if f.lfs is not None else None,
                )
            )
        return DownloadPlan(repo_id=repo_id, revision=revision, commit_sha=info.sha, files=tuple(planned))

    # -- download ---------------------------------------------------------------------------------------------
    def download(
        self,
        plan: DownloadPlan,
        dest_dir: str | Path,
        on_progress: ProgressCallback | None = None,
        cancel_event: CancelEvent | None = None,
        *,
        free_bytes: Callable[[Path], int] | None = None,
    ) -> DownloadResult:
        """Fetch every file of ``plan`` into ``dest_dir`` (``dest_dir/<path in repo>``), verified: see
        ``downloads.transfer.Transfer.download``."""
        return self.transfer.download(plan, dest_dir, on_progress, cancel_event, free_bytes=free_bytes)

    @staticmethod
    def remove(dest_dir: str | Path) -> None:
        """Delete a downloaded model directory and everything in it (no error when it is already gone)."""
        path = Path(dest_dir)
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)

    def _call(self, fn: Callable[[], T], *, repo_id: str | None = None, revision: str | None = None) -> T:
        """Run a ``huggingface_hub`` call, translating its errors into the gateway's."""
        try:
            return fn()
        except GatedRepoError:
            raise PermissionDenied(
                f"{repo_id} is gated: accept its terms on the hub and configure a token",
                param="repo_id",
                code="repo_gated",
            ) from None
        except RepositoryNotFoundError:
            raise NotFound(
                f"no model repository {repo_id!r} on the hub (or it is private)", param="repo_id", code="repo_not_found"
            ) from None
        except RevisionNotFoundError:
            raise InvalidRequest(
                f"{repo_id} has no revision {revision!r}; use a branch, tag or commit sha",
                param="revision",
                code="revision_not_found",
            ) from None
        except EntryNotFoundError:
            raise NotFound(f"not found in {repo_id}@{revision}", code="entry_not_found") from None
        except HFValidationError as e:
            raise InvalidRequest(
                f"invalid repository id {repo_id!r}: {e}", param="repo_id", code="invalid_repo_id"
            ) from None
        except OfflineModeIsEnabled as e:
            raise ProviderUnavailable(
                f"hub access is disabled (HF_HUB_OFFLINE): {e}", provider=PROVIDER, code="hub_unavailable"
            ) from None
        except HfHubHTTPError as e:
            status = e.response.status_code if e.response is not None else 0
            if status == 429 or status >= 500:
                raise ProviderUnavailable(
                    f"the hub answered {status}; try again later", provider=PROVIDER, code="hub_unavailable"
                ) from e
            raise ProviderError(f"the hub refused the request ({status})", provider=PROVIDER) from e
        except httpx2.TimeoutException as e:  # huggingface_hub's own HTTP client
            raise ProviderTimeout(
                f"the hub at {self.endpoint} did not answer in time: {e}", provider=PROVIDER, code="hub_timeout"
            ) from e
        except httpx2.TransportError as e:
            raise ProviderUnavailable(
                f"cannot reach the hub at {self.endpoint}: {e}", provider=PROVIDER, code="hub_unavailable"
            ) from e
