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

from tests.support.processes import create_user

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
    # the examples name no model: the gateway's default local text model answers them
    assert [m.id for m in client.list_models(modality="text") if m.local]
    output, names = run(BRIEF_EXAMPLES, gateway.url, api_key)
    assert output == names["response"].output.text + "\n"  # the first example prints the generated text
    assert names["response"].model.startswith("local:") and names["reply"].request_id
    assert [m.role for m in client.get_session(names["session"].id).messages] == ["user", "assistant"]


def test_the_readme_examples_run(gateway, api_key) -> None:
    create_user(gateway.env, "ada", password="a-long-password")  # the sign-in example's user
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 5
    output, _ = run(blocks, gateway.url, api_key)
    assert "Echo: Hello from Python" in output
