"""The models directory: where a downloaded model lives, and how a removed model's files go.

A model's folder (``<models dir>/<id>``) holds only that model's files: one active job per model writes it. The
download workers own this directory (the API process may run on a host without it).
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from pathlib import Path
from typing import Any

from commands.service import Gateway
from runtimes.catalog import LOCAL_RUNTIME_BY_MODALITY

REMOVED_PREFIX = ".removed-"  # a removed model's folder while it is being deleted


def model_dir(settings: Any, model_id: str) -> Path:
    return Path(settings.resolved_models_dir) / model_id.removeprefix("local:")


def locate(modality: str, dest: Path, files: list[str]) -> tuple[str, str]:
    """The runtime and location of a downloaded model: a GGUF model is its (first) ``.gguf`` file, a pipeline
    (diffusers, Shap-E) its folder."""
    ggufs = sorted(f for f in files if f.lower().endswith(".gguf"))
    if modality == "text" and ggufs:
        return LOCAL_RUNTIME_BY_MODALITY[modality], str(dest / ggufs[0])
    return LOCAL_RUNTIME_BY_MODALITY[modality], str(dest)


def remove_model_files(dest: Path) -> None:
    """A model's folder (``model_dir``) holds only that model's files: one active job per model writes it."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(dest)


def delete_removed_model(app: Gateway, settings: Any, model_id: str) -> None:
    """Delete the folder of a model removed from the catalogue, unless it came back (downloaded again) meanwhile.
    The folder is renamed first, so a download of the same id starting now writes a fresh one."""
    latest, _ = app.current_download(model_id)
    if app.find_model(model_id) is not None or (latest is not None and not latest.is_terminal):
        return
    folder = model_dir(settings, model_id)
    doomed = folder.with_name(f"{REMOVED_PREFIX}{folder.name}-{uuid.uuid4().hex[:8]}")
    try:
        folder.rename(doomed)
    except FileNotFoundError:
        return
    remove_model_files(doomed)


def sweep_removed_models(app: Gateway, settings: Any) -> None:
    """At a download worker's start: delete what removals it did not hear of left behind (it was not running), and
    folders a crash left half deleted. Only folders of models the catalogue knows as removed are touched."""
    root = Path(settings.resolved_models_dir)
    if not root.is_dir():
        return
    for folder in root.iterdir():
        if folder.name.startswith(REMOVED_PREFIX):
            remove_model_files(folder)
        elif folder.is_dir() and app.model_removed(f"local:{folder.name}"):
            delete_removed_model(app, settings, f"local:{folder.name}")
