"""The command line: users made by `pluggably users create` and by scripts/create_user.py (same flags), and
locked out by `pluggably users disable`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.behaviour import assert_error_shape, eventually
from tests.support.processes import PLUGGABLY, ROOT, base_env, cli, embedded_gateway


def test_users_create_and_the_script_take_the_same_flags(tmp_path: Path) -> None:
    env = base_env(tmp_path / "data")
    made = json.loads(cli(["users", "create", "--username", "ann", "--password", "pw-123456789", "--admin",
                           "--json"], env))
    assert set(made) >= {"user_id", "username", "api_key"} and made["username"] == "ann"
    assert made["api_key"].startswith("pk-")
    script = subprocess.run([sys.executable, "scripts/create_user.py", "--username", "ben", "--password",
                             "pw-123456789", "--json", "--data-dir", str(tmp_path / "data")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert script.returncode == 0, script.stderr
    assert json.loads(script.stdout)["username"] == "ben"
    again = subprocess.run([sys.executable, "scripts/create_user.py", "--username", "ben", "--password",
                            "pw-123456789", "--data-dir", str(tmp_path / "data")], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "taken" in again.stderr
    plain = cli(["users", "create", "--username", "cid", "--password", "pw-123456789"], env)
    assert "API key (shown once): pk-" in plain


def test_users_disable_locks_out_a_running_servers_user(tmp_path: Path) -> None:
    with embedded_gateway(tmp_path / "data") as gateway:
        dan = gateway.user("dan")
        with gateway.client(dan["api_key"]) as client:
            assert client.get("/v1/me").status_code == 200
            assert cli(["users", "disable", "--username", "dan"], gateway.env).strip() == "disabled dan"
            eventually(lambda: assert_error_shape(client.get("/v1/me"), 401))
        missing = subprocess.run([*PLUGGABLY, "users", "disable", "--username", "nobody"], env=gateway.env,
                                 capture_output=True, text=True, cwd=ROOT)
        assert missing.returncode == 1 and "no user named 'nobody'" in missing.stderr
