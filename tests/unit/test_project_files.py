"""The set-up files keep their promises: compose validates, .env.example lists every setting."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from infra.settings import Settings
from runtimes.registry import RuntimeRegistry

ROOT = Path(__file__).resolve().parents[2]


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    assert legacy, "neither `docker compose` nor `docker-compose` is installed (make install-test installs it)"
    return [legacy]


def test_docker_compose_config_is_valid() -> None:
    env = {**os.environ, "LLM_API_MASTER_KEY": "dGVzdA=="}
    result = subprocess.run([*compose_command(), "-f", "docker-compose.yml", "config"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for service in ("postgres", "nats", "api", "worker", "projector"):
        assert f"  {service}:" in result.stdout
    assert "-js" in result.stdout


def every_setting() -> list[str]:
    """The gateway's settings, and each installed runtime's own (``LLM_API_<PROVIDER>_*``)."""
    registry = RuntimeRegistry(Settings(_env_file=None))
    own = {type(registry.get(name)).settings_class for name in registry.names()} - {None}
    return [f"LLM_API_{name.upper()}" for name in Settings.model_fields] + \
        [cls.env_var(name) for cls in own for name in cls.model_fields]  # type: ignore[union-attr]


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    missing = [name for name in every_setting() if name not in text]
    assert not missing, missing
