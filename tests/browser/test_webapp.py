"""PlugAI, the web app, end to end in Debian's headless Chromium (tests/browser/*.test.ts, vitest and
playwright-core) against a real gateway with the OpenAI fake, a fake hub and the tiny local models; screenshots of
every page, desktop and 375 px wide, in reports/screenshots/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.node import make, run_vitest
from tests.support.processes import ROOT
from tests.support.webstack import web_stack

PAGES = ("signin", "chat", "history", "models", "keys", "profile", "usage", "admin", "settings")


@pytest.mark.timeout(1200)
def test_the_web_app_in_chromium(tmp_path: Path) -> None:
    make("web")  # the build the gateway serves, made when missing or older than its sources
    make("chromium")
    shots = ROOT / "reports" / "screenshots"
    for old in shots.glob("*.png"):
        old.unlink()
    with web_stack(tmp_path, with_local_models=True) as stack:
        run_vitest("browser", stack)
    missing = [f"{page}-{size}.png" for page in PAGES for size in ("desktop", "375")
               if not (shots / f"{page}-{size}.png").is_file()]
    assert not missing, f"screenshots not written: {missing}"
