"""Tiny models (built once per machine, see ``tests.models.builders``) and the local runtimes that load them.

Runtimes are session-scoped and share one pool, so each model loads once per session. A test that needs its own
budget builds its own ``ModelPool``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import Settings
from tests.models import builders


def _build(builder, **kwargs) -> Path:
    return builders.cached(builder, builders.default_cache_dir(), **kwargs)


@pytest.fixture(scope="session")
def tiny_gguf() -> Path:
    import gguf  # noqa: F401 (the local extra is installed by make test: fail loudly if not)
    return _build(builders.build_tiny_gguf)


@pytest.fixture(scope="session")
def tiny_gguf_other() -> Path:
    """A second, different tiny GGUF (another seed): for eviction tests."""
    import gguf  # noqa: F401 (the local extra is installed by make test: fail loudly if not)
    return _build(builders.build_tiny_gguf, seed=1)


@pytest.fixture(scope="session")
def tiny_bpe_gguf() -> Path:
    import gguf  # noqa: F401 (the local extra is installed by make test: fail loudly if not)
    return _build(builders.build_tiny_bpe_gguf)


@pytest.fixture(scope="session")
def tiny_sd() -> Path:
    import diffusers  # noqa: F401 (the local extra is installed by make test: fail loudly if not)
    return _build(builders.build_tiny_sd_pipeline)


@pytest.fixture(scope="session")
def tiny_shap_e() -> Path:
    import diffusers  # noqa: F401 (the local extra is installed by make test: fail loudly if not)
    return _build(builders.build_tiny_shap_e_pipeline)


@pytest.fixture(scope="session")
def local_settings(tmp_path_factory) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("data"), local_memory_budget_mb=8192,
                    local_idle_unload_s=0)


@pytest.fixture(scope="session")
async def local_pool(local_settings):
    from runtimes.local.model_pool import ModelPool

    pool = ModelPool(local_settings.local_memory_budget_mb, local_settings.local_idle_unload_s)
    yield pool
    await pool.aclose()


@pytest.fixture(scope="session")
def llamacpp(local_settings, local_pool):
    import llama_cpp  # noqa: F401 (the local extra is installed by make test: fail loudly if not)
    from runtimes.local import llamacpp

    return llamacpp.create(local_settings, local_pool)


@pytest.fixture(scope="session")
def ctransformers(local_settings, local_pool):
    import ctransformers  # noqa: F401 (the local extra is installed by make test: fail loudly if not)
    from runtimes.local import ctransformers_runtime

    return ctransformers_runtime.create(local_settings, local_pool)


@pytest.fixture(scope="session")
def diffusers(local_settings, local_pool):
    import diffusers  # noqa: F401 (the local extra is installed by make test: fail loudly if not)
    from runtimes.local import diffusers_runtime

    return diffusers_runtime.create(local_settings, local_pool)


@pytest.fixture(scope="session")
def shap_e(local_settings, local_pool):
    import trimesh  # noqa: F401 (the local extra is installed by make test: fail loudly if not)
    import diffusers  # noqa: F401 (the local extra is installed by make test: fail loudly if not)
    from runtimes.local import shap_e

    return shap_e.create(local_settings, local_pool)
