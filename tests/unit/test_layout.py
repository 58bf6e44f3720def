"""The layout map (docs/architecture/layout.md) holds: no module imports what its folder's row does not allow."""

from __future__ import annotations

from pathlib import Path

from tests.support.layout import ROOT, check, read_map, violations


def test_the_code_keeps_the_map() -> None:
    found = violations()
    assert not found, "imports the layout map forbids:\n" + "\n".join(map(str, found))


def test_the_map_names_every_python_folder() -> None:
    rules = read_map()
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}  # these may import anything
    assert packages <= set(rules.packages), f"folders the map does not describe: {packages - set(rules.packages)}"


def test_a_forbidden_import_fails() -> None:
    """The checker is not blind: fed a bad import, it reports it (at module level and inside a function)."""
    rules = read_map()
    assert [str(v) for v in check("domain/users.py", "from api.app import create_app\n", rules)] == [
        "domain/users.py:1 imports api.app.create_app: domain/ may not import api/"]
    lazy = "def f():\n    import domain.errors\n"
    assert [v.line for v in check("infra/relay.py", lazy, rules)] == [2]
    assert check("projections/keys.py", "from runtimes.base import Runtime\n", rules)
    assert check("clients/python/llm_api_client/_client.py", "from services.auth import Principal\n", rules)
    assert check("api/routes/generate.py", "from api.app import create_app\n", rules)  # the loop it forbids
    assert not check("services/auth.py", "from domain.users import User\nimport httpx\n", rules)
    assert not check("api/routes/generate.py", "from api.request import services\n", rules)


def test_a_map_that_forbids_more_is_held_too(tmp_path: Path) -> None:
    """Change the table and the check changes with it: the map is the rule."""
    text = (ROOT / "docs" / "architecture" / "layout.md").read_text()
    stricter = read_map(text.replace("| `domain/`, `infra/`, `commands/` |", "| `domain/`, `infra/` |", 1))
    assert any(v.path.startswith("runtimes/") and "commands/" in v.why for v in violations(stricter))
