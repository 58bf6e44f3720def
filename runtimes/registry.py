"""The runtime registry, fed by the ``pluggably.runtimes`` entry-point group.

A third-party package adds a runtime by declaring an entry point in that group that points at a factory
``create(settings) -> Runtime``; nothing of ours changes. Tests register scripted runtimes the same way
(through :meth:`RuntimeRegistry.register`, the hook the entry points feed).
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

from domain.errors import UnknownModel
from runtimes.base import Runtime, RuntimeFactory

log = logging.getLogger(__name__)
GROUP = "pluggably.runtimes"


class RuntimeRegistry:
    def __init__(self, settings: Any, only: set[str] | None = None, *, discover: bool = True) -> None:
        self.settings = settings
        self.only = only
        self._factories: dict[str, RuntimeFactory] = {}
        self._runtimes: dict[str, Runtime] = {}
        if discover:
            for ep in entry_points(group=GROUP):
                if only is None or ep.name in only:
                    self._factories[ep.name] = ep  # loaded on first use

    def register(self, name: str, factory: RuntimeFactory) -> None:
        self._factories[name] = factory
        self._runtimes.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: str) -> bool:
        return name in self._factories

    def get(self, name: str) -> Runtime:
        runtime = self._runtimes.get(name)
        if runtime is None:
            factory = self._factories.get(name)
            if factory is None:
                raise UnknownModel(f"No runtime {name!r} is installed here; installed: {', '.join(self.names())}.")
            if hasattr(factory, "load"):  # an entry point
                factory = factory.load()
            runtime = self._runtimes[name] = factory(self.settings)
        return runtime

    async def aclose(self) -> None:
        for runtime in self._runtimes.values():
            try:
                await runtime.aclose()
            except Exception:
                log.exception("closing runtime %s failed", runtime.name)
        self._runtimes.clear()
