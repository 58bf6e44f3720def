"""The package itself: installable on its own, importing nothing of the server, documented."""

from __future__ import annotations

import inspect
import subprocess
import sys
import tomllib
from pathlib import Path

import llm_api_client

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "python"
SERVER_PACKAGES = {"api", "domain", "commands", "projections", "runtimes", "infra", "tests", "sanic"}


def test_depends_on_httpx_and_pydantic_only() -> None:
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    assert sorted(d.split(">")[0].split("=")[0].split("<")[0] for d in project["dependencies"]) == ["httpx", "pydantic"]


def test_importing_it_loads_nothing_of_the_server() -> None:
    code = ("import sys, llm_api_client; "
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(SERVER_PACKAGES)!r}); "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert Path(llm_api_client.__file__).is_relative_to(PACKAGE)


def test_every_public_name_has_a_docstring() -> None:
    missing = []
    for name in llm_api_client.__all__:
        obj = getattr(llm_api_client, name)
        if not inspect.isclass(obj):
            continue
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        for attr, member in vars(obj).items():
            if attr.startswith("_") or not (inspect.isfunction(member) or isinstance(member, property)):
                continue
            if not (member.__doc__ or "").strip():
                missing.append(f"{name}.{attr}")
    assert missing == []
