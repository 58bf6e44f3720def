"""The runtime registry, fed by the ``pluggably.runtimes`` entry-point group.

A third-party package adds a runtime by declaring an entry point in that group that points at a factory
``create(settings) -> Runtime``; nothing of ours changes: its runtime declares its settings, credential, menu,
prices and options like ours (``runtimes.base.Runtime``), and the gateway reads them through this registry.
Tests register scripted runtimes the same way (through :meth:`RuntimeRegistry.register`, the hook the entry
points feed).
"""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from domain.errors import UnknownModel
from runtimes.base import Runtime, RuntimeFactory

log = logging.getLogger(__name__)
GROUP = "pluggably.runtimes"
OTHER_MODEL = "other"  # the metric label of every model name the gateway does not know


class RuntimeRegistry:
    def __init__(self, settings: Any, only: set[str] | None = None, *, discover: bool = True) -> None:
        self.settings = settings
        self.only = only
        self._factories: dict[str, RuntimeFactory | EntryPoint] = {}
        self._runtimes: dict[str, Runtime] = {}
        self._kinds: tuple[frozenset[str], list[str]] | None = None  # (local, credentialed): what a runtime is
        self._known: dict[str, frozenset[str]] = {}  # per provider runtime: the model names it declares
        if discover:
            for ep in entry_points(group=GROUP):
                if only is None or ep.name in only:
                    self._factories[ep.name] = ep  # loaded on first use

    def register(self, name: str, factory: RuntimeFactory) -> None:
        self._factories[name] = factory
        self._runtimes.pop(name, None)
        self._kinds = None
        self._known.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: str) -> bool:
        return name in self._factories

    def _sorted(self) -> tuple[frozenset[str], list[str]]:
        """Which runtimes need a credential: a class declaration, so known once they are made (once)."""
        if self._kinds is None:
            names = self.names()
            self._kinds = (
                frozenset(n for n in names if not self.get(n).needs_credential),
                [n for n in names if self.get(n).needs_credential],
            )
        return self._kinds

    def local(self) -> frozenset[str]:
        """The runtimes that need no credential (local ones)."""
        return self._sorted()[0]

    def credentialed(self) -> list[str]:
        """The runtimes that need a credential: the providers a user may save one for."""
        return self._sorted()[1]

    def cost(self, provider: str, model: str, usage: dict[str, Any]) -> float:
        """USD for ``usage`` of ``model`` (``provider:name``) by the runtime's prices hook; 0 when it is not
        installed here."""
        if provider not in self:
            return 0.0
        try:
            runtime = self.get(provider)
        except Exception:  # a runtime that cannot be made here is not priced here
            log.warning("cannot price %s: its runtime did not load", model, exc_info=True)
            return 0.0
        return runtime.cost(model.partition(":")[2] or model, usage)

    def model_label(self, target: dict[str, str]) -> str:
        """What a metric may call a target's model: its id when the gateway knows it (a local runtime's catalogued
        model, a model of a provider's menu or price list), ``other`` for any other name a caller sent, so a
        caller's string never becomes a Prometheus label value."""
        runtime = target["runtime"]
        if runtime in self.local():
            return target["model"]
        known = self._known.get(runtime)
        if known is None:
            try:
                declared = self.get(runtime)
                known = frozenset(name for name, _ in declared.models) | frozenset(declared.prices)
            except Exception:
                known = frozenset()
            self._known[runtime] = known
        return target["model"] if target["location"] in known else OTHER_MODEL

    def get(self, name: str) -> Runtime:
        runtime = self._runtimes.get(name)
        if runtime is None:
            factory = self._factories.get(name)
            if factory is None:
                raise UnknownModel(f"No runtime {name!r} is installed here; installed: {', '.join(self.names())}.")
            made = factory.load() if isinstance(factory, EntryPoint) else factory
            runtime = self._runtimes[name] = made(self.settings)
        return runtime

    async def aclose(self) -> None:
        for runtime in self._runtimes.values():
            try:
                await runtime.aclose()
            except Exception:
                log.exception("closing runtime %s failed", runtime.name)
        self._runtimes.clear()
