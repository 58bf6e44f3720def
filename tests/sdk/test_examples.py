"""The product brief's Python examples and the SDK README's, executed as written against a real gateway.

Only the address and the key are replaced (``http://localhost:8080`` and ``your-key``).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

from .conftest import route_exists

README = Path(__file__).resolve().parents[2] / "clients" / "python" / "README.md"
BRIEF = Path(os.environ.get("PLUGGABLY_PRODUCT_BRIEF", "/work/shared/PRODUCT-BRIEF.md"))

# The brief's "Client Libraries / Python Client" examples, verbatim.
BRIEF_EXAMPLES = [
    '''from llm_api_client import PluggablyClient, GenerateInput, GenerateRequest

client = PluggablyClient("http://localhost:8080", "your-key")
response = client.generate(
    GenerateRequest(
        modality="text",
        input=GenerateInput(prompt="Hello from Python")
    )
)
print(response.output.text)
''',
    '''session = client.create_session()
handle = client.session(session.id)
reply = handle.generate(
    GenerateRequest(modality="text", input=GenerateInput(prompt="Hi"))
)
''',
]

# README blocks that use a route the gateway may not have yet: skipped (not faked) until it does.
NEEDS_ROUTE = {"search_models": ("GET", "/v1/models/search"), "download_model": ("GET", "/v1/jobs"),
               "wait_for_job": ("GET", "/v1/jobs"), "set_credential": ("GET", "/v1/me/credentials")}


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def run(blocks: list[str], url: str, key: str) -> tuple[str, dict]:
    """Execute the blocks in order in one namespace; what they printed, and the namespace."""
    namespace: dict = {"__name__": "__example__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            code = block.replace("http://localhost:8080", url).replace("your-key", key)
            exec(compile(code, "<example>", "exec"), namespace)
    return out.getvalue(), namespace


def test_the_brief_still_has_these_examples() -> None:
    if not BRIEF.exists():
        pytest.skip(f"no product brief at {BRIEF}")
    section = BRIEF.read_text().split("#### Python Client", 1)[1].split("####", 1)[0]
    assert python_blocks(section) == BRIEF_EXAMPLES


def test_the_brief_examples_run_as_written(gateway, api_key, client) -> None:
    local = next((p for p in client.list_providers() if p.name == "local"), None)
    if local is None or "text" not in local.supported_modalities or not client.list_models(modality="text"):
        pytest.skip("the examples name no model: they need the gateway's default local text model, and this "
                    "gateway has no local text runtime installed yet")
    output, names = run(BRIEF_EXAMPLES, gateway.url, api_key)
    assert output == names["response"].output.text + "\n"  # the first example prints the generated text
    assert names["response"].model.startswith("local:") and names["reply"].request_id
    assert [m.role for m in client.get_session(names["session"].id).messages] == ["user", "assistant"]


def test_the_readme_examples_run(gateway, api_key) -> None:
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 5
    runnable = []
    for block in blocks:
        needed = [NEEDS_ROUTE[name] for name in NEEDS_ROUTE if name + "(" in block]
        if all(route_exists(gateway, api_key, *route) for route in needed):
            runnable.append(block)
    output, _ = run(runnable, gateway.url, api_key)
    assert "Echo: Hello from Python" in output
