"""The model catalogue and the resolution of a request's ``model`` into runtime targets.

``provider:model`` goes to that provider's runtime; ``local:<name>`` to the local model registered under that
name; no model to the default local model of the modality.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from domain.errors import ProviderNotConfigured, UnknownModel
from runtimes.base import Runtime

LOCAL_RUNTIME_BY_MODALITY = {"text": "llamacpp", "image": "diffusers", "3d": "shap_e"}
DEFAULT_SETTING = {
    "text": "LLM_API_LOCAL_TEXT_MODEL_PATH",
    "image": "LLM_API_LOCAL_IMAGE_MODEL_ID",
    "3d": "LLM_API_LOCAL_3D_MODEL_ID",
}


@dataclass
class CatalogEntry:
    id: str
    name: str
    version: str
    modality: str
    runtime: str
    location: str
    local: bool = True
    size_bytes: int | None = None
    status: str = "available"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def local_id(name: str) -> str:
    return name if name.startswith("local:") else f"local:{name}"


def provider_entries(runtime: Runtime) -> list[CatalogEntry]:
    """The menu of a provider's runtime (``Runtime.models``), as catalogue entries."""
    return [
        CatalogEntry(
            id=f"{runtime.name}:{name}",
            name=name,
            version="latest",
            modality=modality,
            runtime=runtime.name,
            location=name,
            local=False,
        )
        for name, modality in runtime.models
        if modality in runtime.modalities
    ]


class Catalog:
    """Local models in memory (the hot path reads no database). ``lookup(model_id)`` answers a miss, e.g. a model
    downloaded a moment ago whose event has not reached this process yet; what it finds is kept."""

    def __init__(self, lookup: Callable[[str], CatalogEntry | None] | None = None) -> None:
        self.entries: dict[str, CatalogEntry] = {}
        self.defaults: dict[str, str] = {}
        self.configured: list[CatalogEntry] = []  # registered from this host's LLM_API_LOCAL_* settings
        self.lookup = lookup

    def register(self, entry: CatalogEntry, *, default: bool = False) -> None:
        self.entries[entry.id] = entry
        if default or entry.modality not in self.defaults:
            self.defaults[entry.modality] = entry.id

    def remove(self, model_id: str) -> None:
        entry = self.entries.pop(model_id, None)
        if entry is not None and self.defaults.get(entry.modality) == model_id:
            del self.defaults[entry.modality]
            for other in self.entries.values():
                if other.modality == entry.modality:
                    self.defaults[entry.modality] = other.id
                    break

    def register_defaults(self, settings: Any) -> None:
        """Register the local models named by ``LLM_API_LOCAL_*`` settings as their modality's default."""
        for modality, value in (
            ("text", settings.local_text_model_path),
            ("image", settings.local_image_model_id),
            ("3d", settings.local_3d_model_id),
        ):
            if not value:
                continue
            known = self.entries.get(local_id(value))
            if known is not None:
                self.defaults[modality] = known.id
                continue
            path = Path(value)
            name = path.stem if path.suffix else path.name
            entry = CatalogEntry(
                id=local_id(name),
                name=name,
                version="local",
                modality=modality,
                runtime=LOCAL_RUNTIME_BY_MODALITY[modality],
                location=str(path),
                size_bytes=_size(path),
            )
            self.register(entry, default=True)
            self.configured.append(entry)

    def list(self, modality: str | None = None) -> list[CatalogEntry]:
        return [e for e in self.entries.values() if modality is None or e.modality == modality]

    def resolve(
        self, model: str | None, modality: str, providers: set[str], local_runtimes: frozenset[str] = frozenset()
    ) -> dict[str, str]:
        """One target ``{"model", "runtime", "location"}`` for a requested model name.

        ``<local runtime>:<name>`` runs the catalogued local model ``local:<name>`` through that runtime (e.g.
        ``ctransformers:tiny``); users never name files directly.
        """
        if model is None:
            model_id = self.defaults.get(modality)
            if model_id is None:
                raise ProviderNotConfigured(
                    f'No model was given and no default local {modality} model is set: pass "model" '
                    f'(e.g. "openai:gpt-4o-mini") or set {DEFAULT_SETTING[modality]}.',
                    param="model",
                )
            model = model_id
        if model.startswith("local:"):
            entry = self.entries.get(model)
            if entry is None and self.lookup is not None:
                entry = self.lookup(model)
                if entry is not None:
                    self.register(entry)
            if entry is None:
                raise UnknownModel(f"No local model {model!r}; GET /v1/models lists them.", param="model")
            return {"model": entry.id, "runtime": entry.runtime, "location": entry.location}
        provider, sep, name = model.partition(":")
        if sep and provider in local_runtimes:
            entry = self.entries.get(local_id(name))
            if entry is None:
                raise UnknownModel(f"No local model {local_id(name)!r}; GET /v1/models lists them.", param="model")
            return {"model": model, "runtime": provider, "location": entry.location}
        if not sep or not name or provider not in providers:
            raise UnknownModel(
                f"Unknown model {model!r}: use provider:model with a provider among "
                f"{', '.join(sorted(providers | {'local'}))}.",
                param="model",
            )
        return {"model": model, "runtime": provider, "location": name}


def _size(path: Path) -> int | None:
    try:
        if path.is_file():
            return path.stat().st_size
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    except OSError:
        return None
    return None
