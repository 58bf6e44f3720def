"""Account, keys, credentials, models, search and download jobs: sync and async, against a real gateway."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from llm_api_client import (
    AsyncPluggablyClient,
    AuthenticationError,
    ConflictError,
    GenerateInput,
    GenerateRequest,
    NotFoundError,
    PermissionDeniedError,
    PluggablyClient,
    RateLimitError,
    UnprocessableEntityError,
)

from .conftest import HUB_REPOS, MODEL, tiny_text_model


def ask(prompt: str) -> GenerateRequest:
    return GenerateRequest(model=MODEL, input=GenerateInput(prompt=prompt))


# -- who, providers, usage, keys ---------------------------------------------------------------------------------


def test_me_providers_usage(client: PluggablyClient) -> None:
    assert client.me().username == "sdk-user"
    openai = next(p for p in client.list_providers() if p.name == "openai")
    assert openai.configured and openai.source in ("server", "user") and "text" in openai.supported_modalities
    before = client.get_usage().totals.get("requests", 0)
    client.generate(ask("count me"))
    deadline = time.monotonic() + 5
    while (usage := client.get_usage()).totals["requests"] <= before and time.monotonic() < deadline:
        time.sleep(0.05)  # usage is a projection: it follows the events a moment later
    row = next(r for r in usage.usage if r.model == MODEL)
    assert row.requests >= 1 and row.output_tokens >= 3 and row.total_tokens == row.input_tokens + row.output_tokens
    assert usage.totals["requests"] >= row.requests
    assert client.request("GET", "/v1/me")["username"] == "sdk-user"


async def test_async_me_providers_usage(aclient: AsyncPluggablyClient) -> None:
    assert (await aclient.me()).username == "sdk-user"
    assert "openai" in [p.name for p in await aclient.list_providers()]
    await aclient.generate(ask("count me too"))
    assert (await aclient.get_usage()).totals["requests"] >= 1
    assert (await aclient.request("GET", "/v1/me"))["username"] == "sdk-user"


def test_keys(gateway, client: PluggablyClient) -> None:
    new = client.create_key("sdk-ci")
    assert new.name == "sdk-ci" and new.api_key
    assert new.key_id in [k.key_id for k in client.list_keys()]
    with PluggablyClient(gateway.url, new.api_key) as other:
        assert other.me().key_id == new.key_id
        client.revoke_key(new.key_id)
        with pytest.raises(AuthenticationError):
            rejected_soon(other)
    assert next(k for k in client.list_keys() if k.key_id == new.key_id).revoked


def rejected_soon(other, seconds: float = 3.0) -> None:
    """Call ``other.me()`` until it fails: the gateway checks keys against a projection that follows the
    revocation a moment later (reported to the server's owners; the SDK only has to surface the 401)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        other.me()
        time.sleep(0.05)
    other.me()


async def arejected_soon(other, seconds: float = 3.0) -> None:
    """The async twin of :func:`rejected_soon`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await other.me()
        await asyncio.sleep(0.05)
    await other.me()


async def test_async_keys(gateway, aclient: AsyncPluggablyClient) -> None:
    new = await aclient.create_key()
    assert new.key_id in [k.key_id for k in await aclient.list_keys()]
    await aclient.revoke_key(new.key_id)
    async with AsyncPluggablyClient(gateway.url, new.api_key) as other:
        with pytest.raises(AuthenticationError):
            await arejected_soon(other)


# -- own credentials ---------------------------------------------------------------------------------------------


def source_of(providers, name: str) -> str | None:
    return next(p.source for p in providers if p.name == name)


def test_credentials(gateway, api_key, client: PluggablyClient) -> None:
    try:
        saved = client.set_credential("openai", "sk-test")  # the fake's key: generation keeps working
        assert saved.provider == "openai" and saved.last4 == "test"
        [listed] = [c for c in client.list_credentials() if c.provider == "openai"]
        assert listed.last4 == "test"
        assert source_of(client.list_providers(), "openai") == "user"
        assert client.generate(ask("with my own key")).output.text == "Echo: with my own key"
    finally:
        client.delete_credential("openai")
    assert "openai" not in [c.provider for c in client.list_credentials()]
    assert source_of(client.list_providers(), "openai") == "server"


async def test_async_credentials(gateway, api_key, aclient: AsyncPluggablyClient) -> None:
    try:
        assert (await aclient.set_credential("openai", "sk-test")).last4 == "test"
        assert "openai" in [c.provider for c in await aclient.list_credentials()]
    finally:
        await aclient.delete_credential("openai")
    assert "openai" not in [c.provider for c in await aclient.list_credentials()]


# -- models, search, downloads -----------------------------------------------------------------------------------


def test_list_models(client: PluggablyClient) -> None:
    everything = client.list_models()
    text = client.list_models(modality="text")
    assert {m.id for m in text} <= {m.id for m in everything}
    assert all(m.modality == "text" for m in text)
    assert all(m.modality == "image" for m in client.list_models(modality="image"))


async def test_async_list_models(aclient: AsyncPluggablyClient) -> None:
    assert all(m.modality == "text" for m in await aclient.list_models(modality="text"))


def test_search_models_is_a_lazy_pager(gateway, api_key, client: PluggablyClient, hub) -> None:
    pager = client.search_models("llama", limit=2)
    before = len(hub.requests)
    assert len(hub.requests) == before  # nothing asked yet
    found = [r.id for r in pager]
    assert sorted(found) == sorted(r for r in HUB_REPOS if "llama" in r.lower())
    pages = list(client.search_models("llama", limit=2).pages())
    assert len(pages) == 2 and pages[0].next_cursor and pages[-1].next_cursor is None
    first = next(iter(client.search_models("tiny-llama")))
    assert first.id == "sdk-org/tiny-llama-gguf" and "text" in first.modality_hints


async def test_async_search_models(gateway, api_key, aclient: AsyncPluggablyClient) -> None:
    found = [r.id async for r in aclient.search_models("llama", limit=2)]
    assert sorted(found) == sorted(r for r in HUB_REPOS if "llama" in r.lower())
    assert len([p async for p in aclient.search_models("llama", limit=2).pages()]) == 2


def test_download_model_and_wait_for_the_job(gateway, api_key, client: PluggablyClient) -> None:
    job = client.download_model("sdk-org/llama-two", model_id="sdk-two", modality="text", revision="main")
    assert job.job_id and job.status in ("queued", "running", "completed")
    seen = []
    final = client.wait_for_job(job.job_id, on_progress=seen.append, poll_interval=0.1, timeout=60)
    assert final.status == "completed", final.error
    assert seen and seen[-1].status == "completed" and seen[-1].job_id == job.job_id
    assert client.get_job(job.job_id).status == "completed"
    assert job.job_id in [j.job_id for j in client.list_jobs()]
    with pytest.raises(NotFoundError):
        client.get_job("job-that-does-not-exist")


def test_cancel_a_download(gateway, api_key, client: PluggablyClient, hub) -> None:
    hub.bytes_per_second = 1000
    try:
        job = client.download_model("sdk-org/tiny-llama-gguf", model_id="sdk-slow", revision="main")
        cancelled = client.cancel_job(job.job_id)
        assert cancelled.job_id == job.job_id
        assert client.wait_for_job(job.job_id, poll_interval=0.1, timeout=30).status == "cancelled"
    finally:
        hub.bytes_per_second = None


async def test_async_download_and_cancel(gateway, api_key, aclient: AsyncPluggablyClient, hub) -> None:
    job = await aclient.download_model("sdk-org/llama-three", model_id="sdk-three", revision="main")
    progress = []

    async def on_progress(j) -> None:
        progress.append(j.progress_pct)

    final = await aclient.wait_for_job(job.job_id, on_progress=on_progress, poll_interval=0.1, timeout=60)
    assert final.status == "completed" and progress
    assert (await aclient.get_job(job.job_id)).status == "completed"
    assert job.job_id in [j.job_id for j in await aclient.list_jobs()]
    hub.bytes_per_second = 1000
    try:
        slow = await aclient.download_model("sdk-org/tiny-llama-gguf", model_id="sdk-slow-2", revision="main")
        await aclient.cancel_job(slow.job_id)
        assert (await aclient.wait_for_job(slow.job_id, poll_interval=0.1, timeout=30)).status == "cancelled"
    finally:
        hub.bytes_per_second = None


def test_delete_model(gateway, admin_key, client: PluggablyClient) -> None:
    job = client.download_model("sdk-org/llama-two", model_id="sdk-doomed", revision="main")
    assert client.wait_for_job(job.job_id, poll_interval=0.1, timeout=60).status == "completed"
    with pytest.raises(PermissionDeniedError):
        client.delete_model("local:sdk-doomed")
    with PluggablyClient(gateway.url, admin_key) as admin:
        admin.delete_model("local:sdk-doomed")
        assert "local:sdk-doomed" not in [m.id for m in admin.list_models()]
        with pytest.raises(NotFoundError):
            admin.delete_model("sdk-doomed")
        configured = f"local:{tiny_text_model().stem}"  # LLM_API_LOCAL_TEXT_MODEL_PATH
        assert configured in [m.id for m in admin.list_models(modality="text")]
        with pytest.raises(ConflictError) as refused:
            admin.delete_model(configured)
        assert refused.value.code == "model_configured"


async def test_async_delete_model(gateway, admin_key, aclient: AsyncPluggablyClient) -> None:
    job = await aclient.download_model("sdk-org/llama-three", model_id="sdk-doomed-2", revision="main")
    assert (await aclient.wait_for_job(job.job_id, poll_interval=0.1, timeout=60)).status == "completed"
    async with AsyncPluggablyClient(gateway.url, admin_key) as admin:
        await admin.delete_model("sdk-doomed-2")
        assert "local:sdk-doomed-2" not in [m.id for m in await admin.list_models()]


def test_admin_creates_lists_and_disables_users(gateway, api_key, admin_key, client: PluggablyClient) -> None:
    with PluggablyClient(gateway.url, admin_key) as admin:
        made = admin.create_user("sdk-newcomer", "a-long-password")
        assert made.username == "sdk-newcomer" and not made.is_admin and made.api_key
        with PluggablyClient(gateway.url, made.api_key, max_retries=0) as newcomer:
            assert newcomer.me().username == "sdk-newcomer"
            listed = {u.username: u for u in admin.list_users()}
            assert not listed["sdk-newcomer"].disabled and listed["sdk-admin"].is_admin
            assert admin.disable_user(made.user_id).disabled
            deadline = time.monotonic() + 30  # at once here; other API processes hear of it through the relay
            while time.monotonic() < deadline:
                try:
                    newcomer.me()
                except AuthenticationError:
                    break
                time.sleep(0.1)
            else:
                pytest.fail("the disabled user's key still works")
        with pytest.raises(ConflictError):
            admin.create_user("sdk-newcomer", "a-long-password")
    with pytest.raises(PermissionDeniedError):
        client.list_users()


async def test_async_admin_users(gateway, admin_key) -> None:
    async with AsyncPluggablyClient(gateway.url, admin_key) as admin:
        made = await admin.create_user("sdk-async-newcomer", "a-long-password", admin=True)
        assert made.is_admin
        assert (await admin.disable_user(made.user_id)).disabled
        assert {u.username: u.disabled for u in await admin.list_users()}["sdk-async-newcomer"]


# -- signing in with a password ----------------------------------------------------------------------------------


def test_login_and_logout(gateway, account) -> None:
    with PluggablyClient.login(gateway.url, "sdk-user", "correct-horse-battery", max_retries=0) as session:
        assert session.signed_in is not None and session.signed_in.user.username == "sdk-user"
        assert session.signed_in.user.id == account["user_id"] and not session.signed_in.user.is_admin
        assert session.signed_in.expires_at.tzinfo is not None
        assert session.me().key_id == session.signed_in.key_id
        assert "web session" in [k.name for k in session.list_keys()]
        session.logout()
        with pytest.raises(AuthenticationError):
            session.me()
    with pytest.raises(AuthenticationError) as wrong:
        PluggablyClient.login(gateway.url, "sdk-user", "not-my-password")
    assert wrong.value.code == "invalid_credentials" and wrong.value.status_code == 401


async def test_async_login_and_logout(gateway) -> None:
    session = await AsyncPluggablyClient.login(gateway.url, "sdk-user", "correct-horse-battery")
    async with session:
        assert (await session.me()).username == "sdk-user"
        await session.logout()
        with pytest.raises(AuthenticationError):
            await session.me()


def test_repeated_failed_logins_are_a_rate_limit_error_that_is_not_retried(gateway) -> None:
    gateway.user("sdk-forgetful")
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            PluggablyClient.login(gateway.url, "sdk-forgetful", "guess")
    with pytest.raises(RateLimitError) as throttled:
        PluggablyClient.login(gateway.url, "sdk-forgetful", "correct-horse-battery", max_retries=2)
    assert throttled.value.code == "too_many_sign_ins" and 1 <= throttled.value.retry_after <= 60
    assert throttled.value.response.headers["x-should-retry"] == "false"  # so the retries did not wait it out


def test_usage_of_a_date_range(client: PluggablyClient) -> None:
    client.generate(ask("count me in a range"))
    today = dt.datetime.now(dt.timezone.utc).date()
    deadline = time.monotonic() + 10
    while not (usage := client.get_usage(start=today, end=today.isoformat())).usage and time.monotonic() < deadline:
        time.sleep(0.05)  # usage is a projection: it follows the events a moment later
    assert {str(row.date) for row in usage.usage} == {today.isoformat()} and usage.totals["requests"] >= 1
    assert client.get_usage(start=today + dt.timedelta(days=1)).usage == []
    with pytest.raises(UnprocessableEntityError):
        client.get_usage(start="last week")
