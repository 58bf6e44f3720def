"""Each error class for its status (from the real gateway), connection errors, timeouts, and retries."""

from __future__ import annotations

import inspect
import time
import uuid
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import pytest

from llm_api_client import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AsyncPluggablyClient,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GenerateInput,
    GenerateRequest,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    PluggablyClient,
    RateLimitError,
    UnprocessableEntityError,
)
from tests.support.processes import free_port

from .conftest import MODEL


def ask(prompt: str = "hi", **parameters: Any) -> GenerateRequest:
    return GenerateRequest(model=MODEL, input=GenerateInput(prompt=prompt), parameters=parameters)


def new_user(client):
    return client.request("POST", "/v1/admin/users", json={"username": "sdk-taken", "password": "long-password-1"})


# (error class, status, code, key: "user" | "admin" | "bad", fake script or None, call)
CASES: list[tuple[type[APIStatusError], int, str, str, dict | None, Callable[[Any], Any]]] = [
    (BadRequestError, 400, "provider_rejected", "user", {"status": 400}, lambda c: c.generate(ask())),
    (AuthenticationError, 401, "unauthorized", "bad", None, lambda c: c.me()),
    (PermissionDeniedError, 403, "forbidden", "user", None, lambda c: c.request("GET", "/v1/admin/users")),
    (NotFoundError, 404, "not_found", "user", None, lambda c: c.get_session(str(uuid.uuid4()))),
    (ConflictError, 409, "conflict", "admin", None, new_user),
    (UnprocessableEntityError, 422, "invalid_request", "user", None, lambda c: c.generate(ask(temperature=5))),
    (RateLimitError, 429, "provider_rate_limited", "user", {"status": 429, "retry_after": 1},
     lambda c: c.generate(ask())),
    (InternalServerError, 502, "provider_unavailable", "user", {"status": 500}, lambda c: c.generate(ask())),
]
IDS = [case[0].__name__ for case in CASES]


def key_for(kind: str, api_key: str, admin_key: str) -> str:
    return {"user": api_key, "admin": admin_key, "bad": "not-a-key"}[kind]


def check(error: APIStatusError, cls: type, status: int, code: str) -> None:
    assert type(error) is cls and isinstance(error, APIStatusError) and isinstance(error, APIError)
    assert error.status_code == status and error.code == code and error.message
    assert error.request_id and error.response.status_code == status
    assert code in str(error) and str(status) in str(error)
    if cls is RateLimitError:
        assert error.retry_after == 1
    if cls is UnprocessableEntityError:
        assert error.param == "parameters.temperature"


@pytest.mark.parametrize("cls,status,code,key,script,call", CASES, ids=IDS)
def test_each_error_class_for_its_status(gateway, api_key, admin_key, openai_fake, cls, status, code, key,
                                         script, call) -> None:
    if cls is ConflictError:
        with PluggablyClient(gateway.url, admin_key) as admin:
            try:
                new_user(admin)
            except ConflictError:
                pass
    if script:
        openai_fake.script_error(script["status"], retry_after=script.get("retry_after"))
    with PluggablyClient(gateway.url, key_for(key, api_key, admin_key), max_retries=0) as client:
        with pytest.raises(cls) as caught:
            call(client)
    check(caught.value, cls, status, code)


@pytest.mark.parametrize("cls,status,code,key,script,call", CASES, ids=IDS)
async def test_each_error_class_for_its_status_async(gateway, api_key, admin_key, openai_fake, cls, status, code,
                                                     key, script, call) -> None:
    if cls is ConflictError:
        with PluggablyClient(gateway.url, admin_key) as admin:
            try:
                new_user(admin)
            except ConflictError:
                pass
    if script:
        openai_fake.script_error(script["status"], retry_after=script.get("retry_after"))
    async with AsyncPluggablyClient(gateway.url, key_for(key, api_key, admin_key), max_retries=0) as client:
        with pytest.raises(cls) as caught:
            result = call(client)
            assert inspect.isawaitable(result)
            await result
    check(caught.value, cls, status, code)


# -- retries -----------------------------------------------------------------------------------------------------


ME = {"user_id": "u1", "username": "someone", "is_admin": False, "key_id": "k1"}
LIMITED = {"error": {"code": "rate_limited", "message": "Slow down.", "type": "rate_limit", "param": None,
                     "request_id": "r1"}}


def test_retry_honours_retry_after_against_the_gateway(gateway, api_key, openai_fake) -> None:
    openai_fake.script_error(429, retry_after=1)
    with PluggablyClient(gateway.url, api_key, max_retries=1) as client:
        started = time.monotonic()
        assert client.generate(ask("after the wait")).output.text == "Echo: after the wait"
    assert time.monotonic() - started >= 1.0
    assert len(openai_fake.api_requests("/chat/completions")) == 2


def test_retry_after_seconds_is_waited_exactly(scripted) -> None:
    scripted.answer(429, LIMITED, {"Retry-After": "1"})
    scripted.answer(200, ME)
    with PluggablyClient(scripted.url, "k", max_retries=2) as client:
        assert client.me().username == "someone"
    assert len(scripted.times) == 2
    assert 1.0 <= scripted.times[1] - scripted.times[0] < 1.5


def test_retry_after_ms_and_http_date(scripted) -> None:
    scripted.answer(503, {}, {"Retry-After-Ms": "300"})
    scripted.answer(429, LIMITED, {"Retry-After": formatdate(time.time() + 3, usegmt=True)})
    scripted.answer(200, ME)
    with PluggablyClient(scripted.url, "k", max_retries=2) as client:
        assert client.me().user_id == "u1"
    gaps = [b - a for a, b in zip(scripted.times, scripted.times[1:])]
    assert 0.3 <= gaps[0] < 0.8 and 1.5 <= gaps[1] < 3.2


def test_retries_run_out_with_the_last_error(scripted) -> None:
    for _ in range(3):
        scripted.answer(429, LIMITED, {"Retry-After": "0"})
    with PluggablyClient(scripted.url, "k", max_retries=2) as client:
        with pytest.raises(RateLimitError) as caught:
            client.me()
    assert len(scripted.times) == 3 and caught.value.retry_after == 0 and caught.value.code == "rate_limited"


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_client_errors_are_not_retried(scripted, status) -> None:
    scripted.answer(status, {"error": {"code": "x", "message": "no"}})
    with PluggablyClient(scripted.url, "k", max_retries=3) as client:
        with pytest.raises(APIStatusError) as caught:
            client.me()
    assert caught.value.status_code == status and len(scripted.times) == 1


def test_5xx_is_retried_with_backoff_and_a_non_json_body_still_makes_an_error(scripted) -> None:
    scripted.answer(500, "oops")
    scripted.answer(200, ME)
    with PluggablyClient(scripted.url, "k", max_retries=1) as client:
        assert client.me().key_id == "k1"
    assert len(scripted.times) == 2 and scripted.times[1] - scripted.times[0] >= 0.3
    scripted.answer(502, "bad gateway text")
    with PluggablyClient(scripted.url, "k", max_retries=0) as client:
        with pytest.raises(InternalServerError) as caught:
            client.me()
    assert caught.value.status_code == 502 and caught.value.code is None


async def test_async_retry_honours_retry_after(scripted) -> None:
    scripted.answer(429, LIMITED, {"Retry-After": "1"})
    scripted.answer(200, ME)
    async with AsyncPluggablyClient(scripted.url, "k", max_retries=1) as client:
        assert (await client.me()).username == "someone"
    assert 1.0 <= scripted.times[1] - scripted.times[0] < 1.5


# -- no answer ---------------------------------------------------------------------------------------------------


def test_connection_error() -> None:
    with PluggablyClient(f"http://127.0.0.1:{free_port()}", "k", max_retries=1) as client:
        with pytest.raises(APIConnectionError) as caught:
            client.me()
    assert not isinstance(caught.value, APITimeoutError) and caught.value.request is not None


async def test_async_connection_error() -> None:
    async with AsyncPluggablyClient(f"http://127.0.0.1:{free_port()}", "k", max_retries=0) as client:
        with pytest.raises(APIConnectionError):
            await client.list_sessions()


def test_timeout_then_retry(scripted) -> None:
    scripted.answer(200, ME, delay=1.0)
    with PluggablyClient(scripted.url, "k", timeout=0.3, max_retries=0) as client:
        with pytest.raises(APITimeoutError) as caught:
            client.me()
    assert isinstance(caught.value, APIConnectionError)
    scripted.answer(200, ME, delay=1.0)
    scripted.answer(200, ME)
    with PluggablyClient(scripted.url, "k", timeout=0.3, max_retries=1) as client:
        assert client.me().user_id == "u1"


async def test_async_timeout(scripted) -> None:
    scripted.answer(200, ME, delay=1.0)
    async with AsyncPluggablyClient(scripted.url, "k", timeout=0.3, max_retries=0) as client:
        with pytest.raises(APITimeoutError):
            await client.me()


def test_bad_arguments_fail_before_any_request() -> None:
    with pytest.raises(ValueError):
        PluggablyClient("", "k")
    with pytest.raises(ValueError):
        PluggablyClient("http://x", "")
    with pytest.raises(TypeError):
        PluggablyClient("http://x", "k").generate({"input": {"prompt": "hi"}})  # type: ignore[arg-type]
