"""Search paging, download jobs and their polling against the documented contract, served by a scripted HTTP
server of this test (real HTTP, no mocked transport).

The same methods run against the real gateway in ``test_account.py`` once it has these routes; this file keeps
the client-side logic (lazy paging, cursors, polling, progress callbacks) covered until then and after.
"""

from __future__ import annotations

from llm_api_client import AsyncPluggablyClient, PluggablyClient

from .conftest import ScriptedServer


def result(repo: str) -> dict:
    return {"id": repo, "name": repo, "tags": ["gguf"], "modality_hints": ["text"], "downloads": 7,
            "last_modified": "2026-01-26T00:00:00Z"}


def job(status: str, pct: float, **extra) -> dict:
    return {"job_id": "job-1", "model_id": "m", "status": status, "progress_pct": pct, "bytes_done": int(pct),
            "bytes_total": 100, "current_file": "model.gguf", "error": None, **extra}


def script_search(server: ScriptedServer) -> None:
    server.answer(200, {"results": [result("a/1"), result("a/2")], "next_cursor": "2"})
    server.answer(200, {"results": [result("a/3")], "next_cursor": None})


def test_search_pages_lazily_and_follows_the_cursor(scripted: ScriptedServer) -> None:
    script_search(scripted)
    with PluggablyClient(scripted.url, "k") as client:
        pager = client.search_models("llama", modality="text", limit=2)
        assert scripted.paths == []  # lazy: nothing asked yet
        iterator = iter(pager)
        assert next(iterator).id == "a/1" and len(scripted.paths) == 1
        assert [r.id for r in iterator] == ["a/2", "a/3"]
    first, second = scripted.paths
    assert first.startswith("/v1/models/search?") and "source=huggingface" in first and "query=llama" in first
    assert "modality=text" in first and "limit=2" in first and "cursor" not in first
    assert "cursor=2" in second


async def test_async_search_pages(scripted: ScriptedServer) -> None:
    script_search(scripted)
    async with AsyncPluggablyClient(scripted.url, "k") as client:
        pages = [page async for page in client.search_models("llama").pages()]
    assert [len(p.results) for p in pages] == [2, 1] and pages[0].results[0].downloads == 7


def test_download_wait_and_cancel(scripted: ScriptedServer) -> None:
    scripted.answer(202, {"job_id": "job-1", "model_id": "mistral-7b", "status": "queued", "progress_pct": 0,
                          "created_at": "2026-01-24T12:00:00Z"})
    for answer in (job("running", 10), job("running", 60), job("completed", 100)):
        scripted.answer(200, answer)
    seen = []
    with PluggablyClient(scripted.url, "k") as client:
        started = client.download_model("TheBloke/Mistral-7B-v0.1-GGUF", model_id="mistral-7b", name="Mistral 7B",
                                         version="1.0", revision="main", allow_patterns=["*.gguf"])
        assert started.status == "queued" and started.created_at is not None
        final = client.wait_for_job("job-1", on_progress=lambda j: seen.append(j.progress_pct), poll_interval=0.01)
        assert final.status == "completed" and final.done and seen == [10, 60, 100]

        scripted.answer(204, None)  # a cancel that answers no body: the job is read back
        scripted.answer(200, job("cancelled", 60))
        assert client.cancel_job("job-1").status == "cancelled"
        scripted.answer(200, {"jobs": [job("cancelled", 60)]})
        assert [j.job_id for j in client.list_jobs()] == ["job-1"]
    assert scripted.paths[0] == "/v1/models/download"
    assert scripted.bodies[0] == {
        "model": {"id": "mistral-7b", "name": "Mistral 7B", "version": "1.0", "modality": "text"},
        "source": {"type": "huggingface", "id": "TheBloke/Mistral-7B-v0.1-GGUF"},
        "options": {"revision": "main", "allow_patterns": ["*.gguf"]}}
    assert scripted.paths[1:4] == ["/v1/jobs/job-1"] * 3
    assert scripted.paths[4:] == ["/v1/jobs/job-1", "/v1/jobs/job-1", "/v1/jobs"]


async def test_async_download_jobs_and_a_wait_that_times_out(scripted: ScriptedServer) -> None:
    scripted.answer(202, job("queued", 0))
    scripted.answer(200, job("running", 5))
    scripted.answer(200, {"jobs": [job("running", 5)]})
    scripted.answer(200, job("cancelled", 5))  # a cancel that answers the job itself
    for answer in (job("running", 10), job("running", 20), job("running", 30)):
        scripted.answer(200, answer)
    seen = []

    async def on_progress(j) -> None:
        seen.append(j.status)

    async with AsyncPluggablyClient(scripted.url, "k") as client:
        assert (await client.download_model("org/repo")).status == "queued"
        assert scripted.bodies[0]["model"] == {"id": "repo", "name": "org/repo", "version": "main",
                                               "modality": "text"}
        assert (await client.get_job("job-1")).bytes_total == 100
        assert [j.status for j in await client.list_jobs()] == ["running"]
        assert (await client.cancel_job("job-1")).status == "cancelled"
        try:
            await client.wait_for_job("job-1", on_progress=on_progress, poll_interval=0.05, timeout=0.08)
        except TimeoutError as error:
            assert "still running" in str(error)
        else:
            raise AssertionError("expected a TimeoutError")
    assert seen and set(seen) == {"running"}
