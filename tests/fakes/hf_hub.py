"""A fake Hugging Face hub: a real HTTP server on 127.0.0.1 that speaks the hub's wire format.

It serves what ``huggingface_hub`` (``HfApi.list_models``, ``model_info``, ``list_repo_tree``, ``hf_hub_download``,
``snapshot_download``) and our own streaming client ask for:

- ``GET /api/models?search=&author=&filter=&pipeline_tag=&sort=&direction=&limit=&cursor=`` → ``[{id, ...}]``, paged
  like the real hub: at most ``min(limit, page_size)`` items per page and a ``Link: <...>; rel="next"`` header whose
  URL carries an opaque ``cursor``;
- ``GET /api/models/{id}`` and ``GET /api/models/{id}/revision/{rev}`` → ``{id, sha, siblings, tags, ...}``;
- ``GET /api/models/{id}/tree/{rev}[/{path}]?recursive=true`` → ``[{type, path, size, oid, lfs?}]`` (paged too);
- ``HEAD``/``GET /{id}/resolve/{rev}/{path}`` with ``X-Repo-Commit``, ``ETag``, ``Content-Length`` and
  ``Accept-Ranges``; ``Range: bytes=a-[b]`` answers 206 with ``Content-Range`` (416 when unsatisfiable);
- 404s carry ``X-Error-Code``: ``RepoNotFound``, ``RevisionNotFound`` or ``EntryNotFound``.

Test controls: ``bytes_per_second`` (throttle, for progress and cancel), ``fail_next(...)`` (drop the connection after
N bytes, or answer a status such as 500, for the next matching downloads), and counters (``bytes_served``,
``range_requests``, ``requests``) that prove a resume really asked for the missing bytes only.

In-process::

    with FakeHub() as hub:
        hub.add_repo("org/tiny", files={"model.gguf": b"..."}, pipeline_tag="text-generation", library="gguf")
        HubClient(endpoint=hub.url)

As a subprocess: ``python -m tests.fakes.hf_hub --port 0`` prints its URL on the first line of stdout; then
``POST /_admin/repos`` (JSON, files base64-encoded; see ``admin_add_repo``), ``POST /_admin/faults``,
``POST /_admin/throttle``, ``GET /_admin/stats`` and ``POST /_admin/reset``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import signal
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

LFS_EXTENSIONS = (".gguf", ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".msgpack", ".h5", ".npz")
LFS_MIN_SIZE = 10 * 1024 * 1024
CHUNK = 64 * 1024


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob, which the hub reports as ``oid`` for regular (non-LFS) files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass
class FakeFile:
    path: str
    data: bytes
    lfs: bool
    advertised_size: int | None = None  # what the tree claims, when a test wants it to lie
    advertised_sha256: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return self.advertised_size if self.advertised_size is not None else len(self.data)

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else git_blob_sha1(self.data)

    def tree_entry(self) -> dict:
        if not self.lfs:
            return {"type": "file", "oid": git_blob_sha1(self.data), "size": self.size, "path": self.path}
        sha = self.advertised_sha256 or self.sha256
        pointer = lfs_pointer(sha, self.size)
        return {
            "type": "file",
            "oid": git_blob_sha1(pointer),
            "size": self.size,
            "path": self.path,
            "lfs": {"oid": sha, "size": self.size, "pointerSize": len(pointer)},
        }


@dataclass
class FakeRepo:
    repo_id: str
    pipeline_tag: str | None = None
    library_name: str | None = None
    tags: list[str] = field(default_factory=list)
    downloads: int = 0
    likes: int = 0
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_modified: datetime = field(default_factory=lambda: datetime.now(UTC))
    commits: dict[str, dict[str, FakeFile]] = field(default_factory=dict)  # sha -> files
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> sha

    def resolve(self, revision: str) -> str | None:
        if revision in self.refs:
            return self.refs[revision]
        return revision if revision in self.commits else None

    def info(self, sha: str, *, blobs: bool = False) -> dict:
        files = self.commits[sha]
        siblings = []
        for f in files.values():
            sibling: dict = {"rfilename": f.path}
            if blobs:
                entry = f.tree_entry()
                sibling.update(size=entry["size"], blobId=entry["oid"])
                if "lfs" in entry:
                    sibling["lfs"] = {"sha256": entry["lfs"]["oid"], "size": f.size,
                                      "pointerSize": entry["lfs"]["pointerSize"]}
            siblings.append(sibling)
        return {**self.summary(), "sha": sha, "siblings": siblings, "disabled": False, "gated": False,
                "author": self.repo_id.split("/")[0] if "/" in self.repo_id else None}

    def summary(self) -> dict:
        return {
            "_id": hashlib.md5(self.repo_id.encode()).hexdigest()[:24],
            "id": self.repo_id,
            "modelId": self.repo_id,
            "likes": self.likes,
            "downloads": self.downloads,
            "private": False,
            "tags": list(self.tags),
            "pipeline_tag": self.pipeline_tag,
            "library_name": self.library_name,
            "createdAt": _iso(self.created_at),
            "lastModified": _iso(self.last_modified),
        }


@dataclass
class Fault:
    """What to do to the next ``count`` downloads (GET resolve) of ``path`` (any file when None)."""

    path: str | None = None
    after_bytes: int | None = None  # send this many body bytes, then drop the connection
    status: int | None = None  # answer this status (e.g. 500) instead of the file
    count: int = 1


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    range: str | None
    status: int


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakeHub:
    """A fake Hugging Face hub served over real HTTP on 127.0.0.1; see the module docstring."""

    def __init__(self, *, port: int = 0, page_size: int = 1000, bytes_per_second: int | None = None) -> None:
        self.page_size = page_size
        self.bytes_per_second = bytes_per_second
        self._repos: dict[str, FakeRepo] = {}
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.bytes_served = 0
        self.bytes_served_by_path: dict[str, int] = {}
        self.range_requests: list[tuple[str, str]] = []  # (file path, Range header)
        self.requests: list[RequestRecord] = []
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.hub = self
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="fake-hf-hub", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls ----------------------------------------------------------------------------------------
    def add_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes],
        *,
        revision: str = "main",
        pipeline_tag: str | None = None,
        library: str | None = None,
        tags: Iterable[str] = (),
        downloads: int = 0,
        likes: int = 0,
        last_modified: datetime | None = None,
        lfs: Iterable[str] | None = None,
        advertise: Mapping[str, Mapping[str, object]] | None = None,
    ) -> str:
        """Register (or add a revision to) a model repo; returns the commit sha that ``revision`` now points to.

        ``lfs`` names the files stored in LFS (default: weight extensions and files of 10 MiB or more); only LFS
        files carry a sha256 in the tree, as on the real hub. ``advertise`` makes the tree lie about a file, e.g.
        ``{"model.gguf": {"sha256": "0" * 64}}`` or ``{"model.gguf": {"size": 10**15}}``.
        """
        lfs_paths = set(lfs) if lfs is not None else {
            p for p, d in files.items() if p.endswith(LFS_EXTENSIONS) or len(d) >= LFS_MIN_SIZE}
        advertise = advertise or {}
        fake_files = {}
        for path, data in files.items():
            told = advertise.get(path, {})
            fake_files[path] = FakeFile(path=path, data=bytes(data), lfs=path in lfs_paths,
                                        advertised_size=told.get("size"), advertised_sha256=told.get("sha256"))
        digest = hashlib.sha1(repo_id.encode() + revision.encode())
        for path in sorted(fake_files):
            digest.update(path.encode() + b"\0" + fake_files[path].etag.encode())
        sha = digest.hexdigest()
        with self._lock:
            repo = self._repos.get(repo_id)
            if repo is None:
                repo = self._repos[repo_id] = FakeRepo(repo_id=repo_id)
            repo.commits[sha] = fake_files
            repo.refs[revision] = sha
            if revision == "main" or len(repo.refs) == 1:
                repo.pipeline_tag = pipeline_tag
                repo.library_name = library
                all_tags = list(tags)
                if library and library not in all_tags:
                    all_tags.insert(0, library)
                repo.tags = all_tags
                repo.downloads = downloads
                repo.likes = likes
            repo.last_modified = last_modified or datetime.now(UTC)
        return sha

    def fail_next(self, *, path: str | None = None, after_bytes: int | None = None, status: int | None = None,
                  count: int = 1) -> None:
        """Break the next ``count`` GET downloads of ``path`` (any file when None): drop the connection after
        ``after_bytes`` body bytes, or answer ``status`` (e.g. 500)."""
        if (after_bytes is None) == (status is None):
            raise ValueError("give exactly one of after_bytes or status")
        with self._lock:
            self._faults.append(Fault(path=path, after_bytes=after_bytes, status=status, count=count))

    def reset_stats(self) -> None:
        with self._lock:
            self.bytes_served = 0
            self.bytes_served_by_path = {}
            self.range_requests = []
            self.requests = []

    def stats(self) -> dict:
        with self._lock:
            return {
                "bytes_served": self.bytes_served,
                "bytes_served_by_path": dict(self.bytes_served_by_path),
                "range_requests": [list(r) for r in self.range_requests],
                "requests": [r.__dict__ for r in self.requests],
            }

    # -- used by the handler ----------------------------------------------------------------------------------
    def _find_repo(self, segments: list[str]) -> tuple[FakeRepo | None, list[str]]:
        """Match ``org/name`` (or a bare ``name``) at the start of ``segments``; return the repo and the rest."""
        with self._lock:
            if len(segments) >= 2 and f"{segments[0]}/{segments[1]}" in self._repos:
                return self._repos[f"{segments[0]}/{segments[1]}"], segments[2:]
            if segments and segments[0] in self._repos:
                return self._repos[segments[0]], segments[1:]
        return None, segments[2:] if len(segments) >= 2 else []

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is None or fault.path == path:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def _count(self, path: str, n: int) -> None:
        with self._lock:
            self.bytes_served += n
            self.bytes_served_by_path[path] = self.bytes_served_by_path.get(path, 0) + n

    def _search(self, params: dict[str, list[str]]) -> list[dict]:
        with self._lock:
            repos = list(self._repos.values())
        search = (params.get("search") or [""])[0].lower()
        author = (params.get("author") or [None])[0]
        pipeline_tag = (params.get("pipeline_tag") or [None])[0]
        filters = params.get("filter") or []
        hits = []
        for repo in repos:
            if search and search not in repo.repo_id.lower():
                continue
            if author and not repo.repo_id.startswith(author + "/"):
                continue
            if pipeline_tag and repo.pipeline_tag != pipeline_tag:
                continue
            facets = set(repo.tags) | {repo.library_name, repo.pipeline_tag}
            if any(f not in facets for f in filters):
                continue
            hits.append(repo)
        sort = (params.get("sort") or ["downloads"])[0]
        key = {"downloads": lambda r: r.downloads, "likes": lambda r: r.likes,
               "lastModified": lambda r: r.last_modified, "createdAt": lambda r: r.created_at}.get(sort)
        hits.sort(key=lambda r: r.repo_id)
        if key is not None:
            descending = (params.get("direction") or ["-1"])[0] != "1"
            hits.sort(key=key, reverse=descending)
        return [r.summary() for r in hits]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    hub: FakeHub


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    @property
    def hub(self) -> FakeHub:
        return self.server.hub

    # -- plumbing ---------------------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.hub._record(RequestRecord(self.command, self.path, self.headers.get("Range"), status))

    def _json(self, payload: object, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _error(self, status: int, code: str | None, message: str) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._json({"error": message}, status, headers)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _page(self, items: list, params: dict[str, list[str]], base_path: str, limit: int | None) -> None:
        """Answer one page of ``items`` and, when more remain, a ``Link: <next>; rel="next"`` header."""
        cursor = (params.get("cursor") or [None])[0]
        offset = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
        size = min(limit, self.hub.page_size) if limit else self.hub.page_size
        page = items[offset:offset + size]
        headers = {}
        if offset + size < len(items):
            rest = [(k, v) for k, vs in params.items() if k != "cursor" for v in vs]
            rest.append(("cursor", base64.urlsafe_b64encode(str(offset + size).encode()).decode()))
            host, port = self.server.server_address[:2]
            headers["Link"] = f'<http://{host}:{port}{base_path}?{urlencode(rest)}>; rel="next"'
        self._json(page, headers=headers)

    # -- routes -----------------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        split = urlsplit(self.path)
        body = self._read_body()
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return self._error(400, None, "body must be JSON")
        if split.path == "/_admin/repos":
            files = {p: base64.b64decode(d) for p, d in payload.pop("files", {}).items()}
            repo_id = payload.pop("repo_id")
            sha = self.hub.add_repo(repo_id, files, **payload)
            return self._json({"id": repo_id, "sha": sha})
        if split.path == "/_admin/faults":
            self.hub.fail_next(**payload)
            return self._json({"ok": True})
        if split.path == "/_admin/throttle":
            self.hub.bytes_per_second = payload.get("bytes_per_second")
            return self._json({"ok": True})
        if split.path == "/_admin/reset":
            self.hub.reset_stats()
            return self._json({"ok": True})
        self._error(404, None, "Not Found")

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        params = parse_qs(split.query, keep_blank_values=True)
        segments = [unquote(s) for s in split.path.strip("/").split("/")] if split.path.strip("/") else []
        try:
            if split.path == "/_admin/stats":
                return self._json(self.hub.stats())
            if segments[:2] == ["api", "models"]:
                if len(segments) == 2:
                    return self._list_models(params)
                return self._model_api(segments[2:], params)
            if "resolve" in segments[1:3]:
                return self._resolve(segments)
            self._error(404, None, "Not Found")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _list_models(self, params: dict[str, list[str]]) -> None:
        limit = int(params["limit"][0]) if params.get("limit") else None
        self._page(self.hub._search(params), params, "/api/models", limit)

    def _model_api(self, segments: list[str], params: dict[str, list[str]]) -> None:
        repo, rest = self.hub._find_repo(segments)
        if repo is None:
            return self._error(404, "RepoNotFound", "Repository not found")
        if not rest:
            return self._json(repo.info(repo.refs.get("main") or next(iter(repo.refs.values())),
                                        blobs=_true(params, "blobs")))
        if rest[0] == "revision" and len(rest) >= 2:
            sha = repo.resolve("/".join(rest[1:]))
            if sha is None:
                return self._error(404, "RevisionNotFound", "Invalid rev id: " + "/".join(rest[1:]))
            return self._json(repo.info(sha, blobs=_true(params, "blobs")))
        if rest[0] == "tree" and len(rest) >= 2:
            sha = repo.resolve(rest[1])
            if sha is None:
                return self._error(404, "RevisionNotFound", "Invalid rev id: " + rest[1])
            prefix = "/".join(rest[2:]).strip("/")
            base_path = "/".join(["/api/models", quote(repo.repo_id), "tree", quote(rest[1], safe="")]
                                 + ([quote(prefix)] if prefix else []))
            return self._tree(repo, sha, prefix, _true(params, "recursive"), params, base_path)
        self._error(404, None, "Not Found")

    def _tree(self, repo: FakeRepo, sha: str, prefix: str, recursive: bool, params: dict[str, list[str]],
              base_path: str) -> None:
        files = sorted(repo.commits[sha].values(), key=lambda f: f.path)
        base = prefix + "/" if prefix else ""
        if prefix and not any(f.path.startswith(base) for f in files):
            return self._error(404, "EntryNotFound", f"{prefix} does not exist on {sha}")
        entries: list[dict] = []
        folders: set[str] = set()
        for f in files:
            if not f.path.startswith(base):
                continue
            relative = f.path[len(base):]
            parts = relative.split("/")
            for depth in range(1, len(parts)):
                folder = base + "/".join(parts[:depth])
                if (recursive or depth == 1) and folder not in folders:
                    folders.add(folder)
                    entries.append({"type": "directory", "oid": hashlib.sha1(folder.encode()).hexdigest(),
                                    "size": 0, "path": folder})
            if recursive or len(parts) == 1:
                entries.append(f.tree_entry())
        self._page(entries, params, base_path, None)

    def _resolve(self, segments: list[str]) -> None:
        at = segments.index("resolve", 1)
        repo, _ = self.hub._find_repo(segments[:at])
        if repo is None or "/".join(segments[:at]) != repo.repo_id:
            return self._error(404, "RepoNotFound", "Repository not found")
        if len(segments) < at + 3:
            return self._error(404, "EntryNotFound", "Entry not found")
        sha = repo.resolve(segments[at + 1])
        if sha is None:
            return self._error(404, "RevisionNotFound", "Invalid rev id: " + segments[at + 1])
        path = "/".join(segments[at + 2:])
        f = repo.commits[sha].get(path)
        if f is None:
            return self._error(404, "EntryNotFound", f"{path} does not exist on {sha}")
        self._serve_file(f, sha)

    def _serve_file(self, f: FakeFile, sha: str) -> None:
        total = len(f.data)
        start, end, status = 0, total - 1, 200
        range_header = self.headers.get("Range")
        if range_header:
            match = _RANGE.match(range_header.strip())
            if match is None or not (match.group(1) or match.group(2)):
                return self._error(400, None, "bad Range")
            if match.group(1):
                start = int(match.group(1))
                end = min(int(match.group(2)), total - 1) if match.group(2) else total - 1
            else:  # suffix range: the last N bytes
                start = max(0, total - int(match.group(2)))
            if self.command == "GET":
                with self.hub._lock:
                    self.hub.range_requests.append((f.path, range_header))
            if start >= total or start > end:
                return self._send(416, b"", {"Content-Range": f"bytes */{total}"})
            status = 206
        fault = self.hub._take_fault(f.path) if self.command == "GET" else None
        if fault is not None and fault.status is not None:
            return self._error(fault.status, None, "injected failure")
        headers = {
            "X-Repo-Commit": sha,
            "ETag": f'"{f.etag}"',
            "Accept-Ranges": "bytes",
            "Content-Length": str(end - start + 1),
            "Content-Type": "application/octet-stream",
        }
        if f.lfs:
            headers["X-Linked-Etag"] = f'"{f.etag}"'
            headers["X-Linked-Size"] = str(total)
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.hub._record(RequestRecord(self.command, self.path, range_header, status))
        if self.command == "HEAD":
            return
        self._stream(f, start, end + 1, fault)

    def _stream(self, f: FakeFile, start: int, stop: int, fault: Fault | None) -> None:
        cut = start + fault.after_bytes if fault is not None and fault.after_bytes is not None else None
        position = start
        while position < stop:
            rate = self.hub.bytes_per_second
            size = min(CHUNK, max(1, rate // 20)) if rate else CHUNK
            if cut is not None:
                size = min(size, cut - position)
            if size > 0:
                chunk = f.data[position:position + size]
                # counted before it is sent: a client that got the last byte must find it counted
                self.hub._count(f.path, len(chunk))
                try:
                    self.wfile.write(chunk)
                except OSError:
                    self.hub._count(f.path, -len(chunk))
                    raise
                position += len(chunk)
            if cut is not None and position >= cut:
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if rate:
                time.sleep(size / rate)


def _true(params: dict[str, list[str]], name: str) -> bool:
    return (params.get(name) or ["false"])[0].lower() in ("1", "true")


def admin_add_repo(url: str, repo_id: str, files: Mapping[str, bytes], **meta: object) -> str:
    """Register a repo on a fake hub running as a subprocess (same arguments as ``FakeHub.add_repo``)."""
    payload = {"repo_id": repo_id, "files": {p: base64.b64encode(d).decode() for p, d in files.items()}, **meta}
    request = urllib.request.Request(f"{url}/_admin/repos", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["sha"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a fake Hugging Face hub on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--bytes-per-second", type=int, default=None)
    args = parser.parse_args(argv)
    hub = FakeHub(port=args.port, page_size=args.page_size, bytes_per_second=args.bytes_per_second)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with hub:
        print(hub.url, flush=True)
        stop.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
