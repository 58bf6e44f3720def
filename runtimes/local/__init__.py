"""Local runtimes: models that run on this host (llama.cpp, ctransformers, diffusers, Shap-E).

Every local runtime is a :class:`LocalRuntime`: it finds the model on disk, holds it through the shared
:class:`~runtimes.local.model_pool.ModelPool`, and runs its blocking generation in the model's own thread, which
emits chunks as they come. Heavy libraries are imported inside the runtime modules' methods only.
"""

from __future__ import annotations

import asyncio
import os
import threading
from abc import abstractmethod
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

from domain.errors import GatewayError, NotFound, ProviderNotConfigured, RuntimeFailure
from runtimes.base import Chunk, GenerationRequest, Runtime, TextDelta
from runtimes.local.model_pool import Emit, ModelPool, shared_pool

__all__ = ["Emit", "LocalRuntime", "ModelPool", "shared_pool", "size_mb"]


def size_mb(path: Path, suffixes: tuple[str, ...] = ()) -> float:
    """Bytes on disk of a file, or of the files under a folder (only ``suffixes`` when given), in MB."""
    if path.is_file():
        return path.stat().st_size / 2**20
    files = (p for p in path.rglob("*") if p.is_file() and (not suffixes or p.name.endswith(suffixes)))
    return sum(p.stat().st_size for p in files) / 2**20


def merge_text(first: Any, second: Any) -> TextDelta | None:
    """Two text chunks waiting together become one (the worker then publishes one token event for both)."""
    if isinstance(first, TextDelta) and isinstance(second, TextDelta):
        return TextDelta(first.text + second.text)
    return None


class LocalRuntime(Runtime):
    """Shared plumbing of the local runtimes; subclasses say how to load a model and how to generate with it."""

    #: The settings field holding the default model location, used when a request names none.
    default_setting: ClassVar[str] = ""
    #: ``"file"`` (a GGUF) or ``"dir"`` (a pipeline folder).
    location_kind: ClassVar[str] = "file"
    #: How many chunks the model's thread may run ahead of the worker publishing them. Text runtimes let
    #: it run ahead so per-token publishing overlaps generation instead of adding to it; a cancel still
    #: stops the thread at its next token.
    stream_window: ClassVar[int] = 1

    def __init__(self, settings: Any, pool: ModelPool | None = None) -> None:
        self.settings = settings
        self.pool = pool if pool is not None else shared_pool(settings)
        #: What this runtime did, for metrics and tests: tokens, steps, generations, cancelled, failures.
        self.counters: Counter[str] = Counter()

    # ------------------------------------------------------------------ what a runtime implements
    @abstractmethod
    def load(self, path: Path) -> Any:
        """Load the model at ``path`` (blocking; runs in the model's thread)."""

    def unload(self, model: Any) -> None:
        """Release a model the pool evicts (blocking; runs in the model's thread)."""
        close = getattr(model, "close", None)
        if callable(close):
            close()

    def estimate_mb(self, path: Path) -> float:
        return size_mb(path) * 1.2

    @abstractmethod
    def generate(
        self, model: Any, request: GenerationRequest, params: dict[str, Any], emit: Emit, cancelled: threading.Event
    ) -> None:
        """Generate (blocking, in the model's thread): ``emit`` each chunk, the ``Result`` last.

        ``emit`` raises once the request is cancelled: call it (or check ``cancelled``) at every token or step.
        """

    # ------------------------------------------------------------------ shared behaviour
    def locate(self, request: GenerationRequest) -> Path:
        """The model's path on disk, or a clear error naming what is missing."""
        location = request.model or (
            getattr(self.settings, self.default_setting, None) if self.default_setting else None
        )
        if not location:
            raise ProviderNotConfigured(
                f"no local model for {self.name}: name a model or set LLM_API_{self.default_setting.upper()}",
                param="model",
            )
        path = Path(os.path.expanduser(location))
        exists = path.is_dir() if self.location_kind == "dir" else path.is_file()
        if not exists:
            what = "pipeline folder" if self.location_kind == "dir" else "model file"
            raise NotFound(
                f"local {what} not found: {path} (download the model first, or fix its location)", param="model"
            )
        return path.resolve()

    async def execute(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        params = dict(request.parameters)  # checked by ``validate`` when the generation was requested
        path = self.locate(request)
        try:
            # the file's identity is in the key: a model removed and downloaded again to the same path is a new
            # model, never the old weights still in memory
            stat = path.stat()
            async with self.pool.use(
                (self.name, str(path), stat.st_ino, stat.st_mtime_ns),
                lambda: self._load(path),
                size_mb=self.estimate_mb(path),
                unload=self.unload,
            ) as lease:

                def work(emit: Emit, cancelled: threading.Event) -> None:
                    self.generate(lease.model, request, params, emit, cancelled)

                async for chunk in lease.stream(work, window=self.stream_window, merge=merge_text):
                    yield chunk
            self.counters["generations"] += 1
        except (asyncio.CancelledError, GeneratorExit):
            self.counters["cancelled"] += 1
            raise
        except GatewayError:
            self.counters["failures"] += 1
            raise
        except Exception as exc:
            self.counters["failures"] += 1
            raise RuntimeFailure(
                f"{self.name} failed on {path.name}: {type(exc).__name__}: {exc}", provider=self.name
            ) from exc

    def _load(self, path: Path) -> Any:
        try:
            return self.load(path)
        except GatewayError:
            raise
        except Exception as exc:
            raise RuntimeFailure(
                f"{self.name} could not load {path}: {type(exc).__name__}: {exc}", provider=self.name
            ) from exc
