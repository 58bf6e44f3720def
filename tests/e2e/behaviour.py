"""The gateway's behaviour over HTTP: one abstract body, run unchanged on both modes (see test_modes.py)."""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

MODEL = "openai:gpt-4o-mini"


def sse_events(text: str) -> list[dict[str, Any]]:
    events = []
    for block in text.strip().split("\n\n"):
        event: dict[str, Any] = {}
        for line in block.splitlines():
            field, _, value = line.partition(": ")
            if field == "data":
                event["data"] = json.loads(value)
            elif field in ("event", "id"):
                event[field] = value
        if event:
            events.append(event)
    return events


def assert_error_shape(response: httpx.Response, status: int | None = None, code: str | None = None) -> dict:
    assert 400 <= response.status_code < 500 if status is None else response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"code", "message", "type", "param", "request_id"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def eventually(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


BAD_REQUESTS = [
    ("malformed json", b"{not json", 400, "invalid_json"),
    ("not an object", b"[1, 2]", 422, "invalid_request"),
    ("unknown modality", {"modality": "video", "model": MODEL, "input": {"prompt": "x"}}, 422, None),
    ("missing input", {"modality": "text", "model": MODEL}, 422, None),
    ("missing prompt", {"modality": "text", "model": MODEL, "input": {}}, 422, None),
    ("empty prompt", {"modality": "text", "model": MODEL, "input": {"prompt": "  "}}, 422, None),
    ("bad role", {"model": MODEL, "input": {"messages": [{"role": "robot", "content": "x"}]}}, 422, None),
    ("unknown field", {"model": MODEL, "input": {"prompt": "x"}, "tempo": 1}, 422, None),
    ("unknown model", {"model": "nobody:model-x", "input": {"prompt": "x"}}, 404, "model_not_found"),
    ("no provider prefix", {"model": "gpt-4o-mini", "input": {"prompt": "x"}}, 404, "model_not_found"),
    ("unknown local model", {"model": "local:nothing", "input": {"prompt": "x"}}, 404, "model_not_found"),
    ("unknown parameter", {"model": MODEL, "input": {"prompt": "x"}, "parameters": {"warmth": 1}}, 422,
     "unknown_parameter"),
    ("bad temperature", {"model": MODEL, "input": {"prompt": "x"}, "parameters": {"temperature": "hot"}}, 422, None),
    ("temperature too high", {"model": MODEL, "input": {"prompt": "x"}, "parameters": {"temperature": 9}}, 422,
     None),
    ("empty model list", {"model": [], "input": {"prompt": "x"}}, 422, None),
    ("stream not boolean", {"model": MODEL, "input": {"prompt": "x"}, "stream": "maybe"}, 422, None),
    ("no default local model", {"modality": "text", "input": {"prompt": "x"}}, 400, "provider_not_configured"),
]


class GatewayBehaviour:
    """Subclasses provide the ``gateway`` fixture (a running gateway wired to ``openai_fake``) and
    ``stored_event_count()``."""

    def stored_event_count(self, gateway: Any) -> int:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def alice(cls, gateway: Any) -> dict[str, str]:
        return gateway.user("alice", admin=True)

    @pytest.fixture(scope="class")
    @classmethod
    def bob(cls, gateway: Any) -> dict[str, str]:
        return gateway.user("bob")

    @pytest.fixture
    def client(self, gateway: Any, alice: dict[str, str]) -> Any:
        with gateway.client(alice["api_key"]) as client:
            yield client

    def test_health_ready_metrics(self, gateway: Any) -> None:
        assert httpx.get(gateway.url + "/health").json() == {"status": "ok"}
        assert httpx.get(gateway.url + "/ready").json() == {"status": "ready"}
        metrics = httpx.get(gateway.url + "/metrics").text
        assert "llm_api_request_count_total" in metrics

    def test_v1_needs_a_valid_key(self, gateway: Any) -> None:
        assert_error_shape(httpx.get(gateway.url + "/v1/sessions"), 401, "unauthorized")
        assert_error_shape(httpx.get(gateway.url + "/v1/sessions", headers={"X-API-Key": "pk-nope"}), 401)

    def test_cli_key_works_at_once(self, gateway: Any) -> None:
        carol = gateway.user("carol")
        with gateway.client(carol["api_key"]) as client:
            assert client.get("/v1/me").json()["username"] == "carol"

    def test_generate_text(self, client: Any, openai_fake: Any) -> None:
        response = client.post("/v1/generate", json={"modality": "text", "model": MODEL,
                                                     "input": {"prompt": "Write a haiku"},
                                                     "parameters": {"temperature": 0.7, "max_tokens": 100}})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["output"]["text"] == "Echo: Write a haiku"
        assert body["model"] == MODEL and body["modality"] == "text" and body["finish_reason"] == "stop"
        assert body["usage"]["input_tokens"] > 0 and body["usage"]["output_tokens"] == 4
        assert body["usage"]["total_tokens"] == body["usage"]["input_tokens"] + body["usage"]["output_tokens"]
        upstream = openai_fake.api_requests("/chat/completions")[-1].body
        assert upstream["temperature"] == 0.7 and upstream["max_completion_tokens"] == 100
        status = client.get(f"/v1/generations/{body['request_id']}").json()
        assert status["status"] == "completed" and status["output"]["text"] == "Echo: Write a haiku"

    def test_generate_messages(self, client: Any, openai_fake: Any) -> None:
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello you"}]
        body = client.post("/v1/generate", json={"model": MODEL, "input": {"messages": messages}}).json()
        assert body["output"]["text"] == "Echo: Hello you"
        assert openai_fake.api_requests("/chat/completions")[-1].body["messages"] == messages

    def test_stream_and_resume(self, client: Any) -> None:
        with client.stream("POST", "/v1/generate", json={"model": MODEL, "input": {"prompt": "one two three"},
                                                          "stream": True}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = sse_events(response.read().decode())
        assert [e["event"] for e in events] == ["token"] * 4 + ["done"]
        assert all("id" in e for e in events)
        assert "".join(e["data"]["text"] for e in events[:-1]) == "Echo: one two three"
        done = events[-1]["data"]
        assert done["output"]["text"] == "Echo: one two three" and done["usage"]["output_tokens"] == 4
        gid = done["request_id"]
        again = sse_events(client.get(f"/v1/generations/{gid}/events").text)
        assert again == events
        resumed = sse_events(client.get(f"/v1/generations/{gid}/events", headers={"Last-Event-ID": "2"}).text)
        assert resumed == events[2:]

    def test_stream_failure_ends_with_error_event(self, client: Any, openai_fake: Any) -> None:
        openai_fake.script_error(400, "bad request from the fake")
        with client.stream("POST", "/v1/generate", json={"model": MODEL, "input": {"prompt": "x"},
                                                          "stream": True}) as response:
            events = sse_events(response.read().decode())
        assert events[-1]["event"] == "error"
        assert events[-1]["data"]["code"] == "provider_rejected"

    def test_provider_refusal_is_a_clear_error(self, client: Any, openai_fake: Any) -> None:
        openai_fake.script_error(400, "This model does not exist")
        response = client.post("/v1/generate", json={"model": MODEL, "input": {"prompt": "x"}})
        error = assert_error_shape(response, 400, "provider_rejected")
        assert "does not exist" in error["message"]
        status = client.get(f"/v1/generations/{error['request_id']}").json()
        assert status["status"] == "failed" and status["error"]["code"] == "provider_rejected"

    def test_sessions(self, client: Any, openai_fake: Any) -> None:
        created = client.post("/v1/sessions", json={"title": "Trip"})
        assert created.status_code == 201
        session = created.json()
        assert set(session) >= {"id", "title", "model", "created_at"} and session["title"] == "Trip"
        sid = session["id"]
        assert sid in [s["id"] for s in client.get("/v1/sessions").json()["sessions"]]
        first = client.post(f"/v1/sessions/{sid}/generate", json={"model": MODEL, "input": {"prompt": "first"}})
        assert first.json()["output"]["text"] == "Echo: first"
        between = datetime.now(timezone.utc).isoformat()
        time.sleep(0.01)
        second = client.post(f"/v1/sessions/{sid}/generate", json={"model": MODEL, "input": {"prompt": "second"}})
        assert second.json()["output"]["text"] == "Echo: second"
        sent = openai_fake.api_requests("/chat/completions")[-1].body["messages"]
        assert [m["content"] for m in sent] == ["first", "Echo: first", "second"]
        detail = client.get(f"/v1/sessions/{sid}").json()
        assert [(m["role"], m["content"]) for m in detail["messages"]] == [
            ("user", "first"), ("assistant", "Echo: first"), ("user", "second"), ("assistant", "Echo: second")]
        assert all(m["generation_id"] and m["created_at"] for m in detail["messages"])
        past = client.get(f"/v1/sessions/{sid}", params={"as_of": between}).json()
        assert [m["content"] for m in past["messages"]] == ["first", "Echo: first"]
        history = client.get(f"/v1/sessions/{sid}/history").json()
        types = [e["type"] for e in history["events"]]
        assert types[0] == "ChatSession.Started"
        assert types.count("Generation.Requested") == 2 and types.count("Generation.Completed") == 2
        assert all(set(e) >= {"type", "version", "timestamp", "data"} for e in history["events"])
        stamps = [e["timestamp"] for e in history["events"]]
        assert stamps == sorted(stamps)
        old = client.get(f"/v1/sessions/{sid}/history", params={"as_of": between}).json()
        assert [e["type"] for e in old["events"]].count("Generation.Completed") == 1
        assert client.delete(f"/v1/sessions/{sid}").status_code == 204
        assert_error_shape(client.get(f"/v1/sessions/{sid}"), 404)
        assert sid not in [s["id"] for s in client.get("/v1/sessions").json()["sessions"]]
        audited = client.get(f"/v1/sessions/{sid}", params={"as_of": between}).json()  # deleted, still auditable
        assert [m["content"] for m in audited["messages"]] == ["first", "Echo: first"]
        trail = client.get(f"/v1/sessions/{sid}/history", params={"as_of": datetime.now(timezone.utc).isoformat()})
        assert trail.json()["events"][-1]["type"] == "ChatSession.Deleted"

    def test_other_users_resources_are_not_found(self, gateway: Any, client: Any, bob: dict[str, str]) -> None:
        sid = client.post("/v1/sessions", json={}).json()["id"]
        gid = client.post("/v1/generate", json={"model": MODEL, "input": {"prompt": "mine"}}).json()["request_id"]
        with gateway.client(bob["api_key"]) as other:
            for path in (f"/v1/sessions/{sid}", f"/v1/sessions/{sid}/history", f"/v1/generations/{gid}",
                         f"/v1/generations/{gid}/events"):
                assert_error_shape(other.get(path), 404)
            assert_error_shape(other.post(f"/v1/sessions/{sid}/generate",
                                          json={"model": MODEL, "input": {"prompt": "x"}}), 404)
            assert_error_shape(other.delete(f"/v1/generations/{gid}"), 404)
            assert sid not in [s["id"] for s in other.get("/v1/sessions").json()["sessions"]]

    def test_providers(self, client: Any) -> None:
        providers = {p["name"]: p for p in client.get("/v1/providers").json()["providers"]}
        assert providers["openai"]["configured"] is True and "text" in providers["openai"]["supported_modalities"]
        assert providers["openai"]["source"] == "server"

    def test_usage_is_metered(self, gateway: Any, bob: dict[str, str]) -> None:
        with gateway.client(bob["api_key"]) as client:
            for prompt in ("a b", "c d e"):
                assert client.post("/v1/generate", json={"model": MODEL, "input": {"prompt": prompt}}).status_code == 200

            def counted() -> dict:
                usage = client.get("/v1/usage").json()
                assert usage["totals"]["requests"] == 2, usage
                return usage

            usage = eventually(counted)
        row = usage["usage"][0]
        assert row["provider"] == "openai" and row["model"] == MODEL and row["date"]
        assert row["output_tokens"] == 3 + 4 and row["input_tokens"] > 0
        with gateway.client(bob["api_key"]) as client:
            day = date.fromisoformat(row["date"])
            assert client.get("/v1/usage", params={"from": str(day), "to": str(day)}).json() == usage
            later = client.get("/v1/usage", params={"from": str(day + timedelta(days=1))}).json()
            assert later["usage"] == [] and later["totals"]["requests"] == 0
            assert client.get("/v1/usage", params={"to": str(day - timedelta(days=1))}).json()["usage"] == []
            assert_error_shape(client.get("/v1/usage", params={"from": "yesterday"}), 422)["param"] == "from"
            assert_error_shape(client.get("/v1/usage", params={"from": str(day), "to": str(day - timedelta(days=1))}),
                               422)

    def test_sign_in_with_a_password_and_out(self, gateway: Any) -> None:
        erin = gateway.user("erin")
        answer = httpx.post(gateway.url + "/v1/auth/login", json={"username": "erin",
                                                                  "password": "correct-horse-battery"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["user"] == {"id": erin["user_id"], "username": "erin", "is_admin": False}
        expires = datetime.fromisoformat(body["expires_at"])
        assert timedelta(hours=11.9) < expires - datetime.now(timezone.utc) <= timedelta(hours=12)
        with gateway.client(body["api_key"]) as session:
            assert session.get("/v1/me").json()["key_id"] == body["key_id"]
            keys = {k["key_id"]: k for k in session.get("/v1/keys").json()["keys"]}
            assert keys[body["key_id"]]["name"] == "web session" and keys[body["key_id"]]["expires_at"]
            assert session.post("/v1/auth/logout").status_code == 204
            assert_error_shape(session.get("/v1/me"), 401)
            assert_error_shape(session.post("/v1/auth/logout"), 401)
        with gateway.client(erin["api_key"]) as other:  # signing out revoked that key only
            assert other.get("/v1/me").status_code == 200
        assert httpx.post(gateway.url + "/v1/auth/login",  # usernames are not case-sensitive
                          json={"username": "ERIN", "password": "correct-horse-battery"}).status_code == 200

    def test_failed_sign_ins_look_alike_and_are_limited(self, gateway: Any, client: Any) -> None:
        frank = gateway.user("frank")

        def login(username: str, password: str) -> httpx.Response:
            return httpx.post(gateway.url + "/v1/auth/login", json={"username": username, "password": password})

        unknown = assert_error_shape(login("nobody-here", "correct-horse-battery"), 401, "invalid_credentials")
        wrong = assert_error_shape(login("frank", "not-the-password"), 401, "invalid_credentials")
        assert {**unknown, "request_id": ""} == {**wrong, "request_id": ""}
        for _ in range(4):
            assert_error_shape(login("frank", "still-wrong"), 401, "invalid_credentials")
        throttled = login("frank", "correct-horse-battery")  # the sixth try, right or wrong, waits
        assert_error_shape(throttled, 429, "too_many_sign_ins")
        assert 1 <= int(throttled.headers["Retry-After"]) <= 60
        assert login("erin-or-anyone", "x").status_code == 401  # other usernames are not held back
        assert_error_shape(login("frank", "x" * 2000), 422)  # validation says what is wrong, not the password
        assert "x" * 20 not in login("frank", "x" * 2000).text
        client.post(f"/v1/admin/users/{frank['user_id']}/disable")
        grace = gateway.user("grace")
        client.post(f"/v1/admin/users/{grace['user_id']}/disable")
        assert_error_shape(login("grace", "correct-horse-battery"), 403, "account_disabled")
        assert_error_shape(login("grace", "wrong-password"), 401, "invalid_credentials")

    def test_revoked_key_stops_working(self, gateway: Any, client: Any) -> None:
        issued = client.post("/v1/keys", json={"name": "temp"}).json()
        with gateway.client(issued["api_key"]) as temp:
            assert temp.get("/v1/me").status_code == 200
            assert client.delete(f"/v1/keys/{issued['key_id']}").status_code == 204
            eventually(lambda: assert_error_shape(temp.get("/v1/me"), 401))

    def test_a_disabled_user_is_locked_out(self, gateway: Any, client: Any) -> None:
        dave = gateway.user("dave")
        with gateway.client(dave["api_key"]) as first:
            second = first.post("/v1/keys", json={"name": "second"}).json()["api_key"]
            assert_error_shape(first.post(f"/v1/admin/users/{dave['user_id']}/disable"), 403)
            response = client.post(f"/v1/admin/users/{dave['user_id']}/disable")
            assert response.status_code == 200 and response.json()["disabled"] is True, response.text
            eventually(lambda: assert_error_shape(first.get("/v1/me"), 401))
        with gateway.client(second) as other:
            assert_error_shape(other.get("/v1/me"), 401)
        assert client.post(f"/v1/admin/users/{dave['user_id']}/disable").status_code == 200  # idempotent
        assert {u["username"]: u["disabled"] for u in client.get("/v1/admin/users").json()["users"]}["dave"]
        me = client.get("/v1/me").json()["user_id"]
        assert_error_shape(client.post(f"/v1/admin/users/{me}/disable"), 409)
        assert_error_shape(client.post(f"/v1/admin/users/{me.upper().replace('-', '')}/disable"), 409)  # same id
        assert_error_shape(client.post("/v1/admin/users/00000000-0000-0000-0000-000000000000/disable"), 404)

    @pytest.mark.parametrize("case", BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
    def test_bad_input_is_refused_and_nothing_is_stored(self, gateway: Any, client: Any, case: tuple) -> None:
        _, body, status, code = case
        before = self.stored_event_count(gateway)
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = client.post("/v1/generate", content=content, headers={"Content-Type": "application/json"})
        assert_error_shape(response, status, code)
        assert self.stored_event_count(gateway) == before

    def test_unknown_session_and_bad_as_of(self, client: Any) -> None:
        assert_error_shape(client.get("/v1/sessions/not-a-uuid"), 404)
        assert_error_shape(client.get("/v1/sessions/00000000-0000-0000-0000-000000000000"), 404)
        sid = client.post("/v1/sessions", json={}).json()["id"]
        assert_error_shape(client.get(f"/v1/sessions/{sid}", params={"as_of": "yesterday"}), 422)
        assert_error_shape(client.post("/v1/sessions", json={"title": 5}), 422)

    def test_cancel_a_running_generation(self, client: Any, openai_fake: Any) -> None:
        before = len(openai_fake.api_requests("/chat/completions"))
        openai_fake.script_delay(5, times=1)
        events: list[dict[str, Any]] = []
        ids: list[str] = []

        def run() -> None:
            with client.stream("POST", "/v1/generate", json={"model": MODEL, "input": {"prompt": "slow"},
                                                              "stream": True}) as response:
                ids.append(response.headers["X-Generation-ID"])
                events.extend(sse_events(response.read().decode()))

        import threading

        thread = threading.Thread(target=run)
        thread.start()
        eventually(lambda: assert_true(len(openai_fake.api_requests("/chat/completions")) > before and ids))
        cancelled = client.delete(f"/v1/generations/{ids[0]}")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
        thread.join(10)
        assert not thread.is_alive()
        assert events[-1]["event"] == "error" and events[-1]["data"]["code"] == "cancelled"
        assert client.get(f"/v1/generations/{ids[0]}").json()["status"] == "cancelled"

    def test_failure_in_the_middle_of_a_stream_ends_with_an_error_event(self, client: Any, openai_fake: Any) -> None:
        openai_fake.fail_mid_stream(after_events=2, mode="disconnect")
        with client.stream("POST", "/v1/generate", json={"model": MODEL, "input": {"prompt": "a b c d e f"},
                                                          "stream": True}) as response:
            events = sse_events(response.read().decode())
        assert [e["event"] for e in events[:-1]] == ["token"] * (len(events) - 1) and len(events) >= 2
        assert events[-1]["event"] == "error"
        assert events[-1]["data"]["code"] in ("provider_unavailable", "provider_error")
        status = client.get(f"/v1/generations/{events[-1]['data']['request_id']}").json()
        assert status["status"] == "failed"


def assert_true(value: Any) -> None:
    assert value
