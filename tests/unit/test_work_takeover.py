"""Who runs a piece of work: the same work message coming back (its holder died) is taken over; another message
for work already running (a sweeper's copy) is not. Decided by the message's identity, whatever the bus's
delivery count says (NATS restarts it at 1 after a delivery it counts as failed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.bootstrap import opened
from commands.service import Gateway
from infra.settings import Settings


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Gateway]:
    with opened(Settings(data_dir=tmp_path, database_url=None, _env_file=None)) as container:  # SQLite
        yield container.app


def test_a_generation_is_taken_over_only_from_its_own_message(app: Gateway) -> None:
    gid = str(app.request_generation(owner_id="u1", key_id=None, session_id=None, modality="text",
                                     targets=[{"model": "openai:m", "runtime": "openai", "location": "m"}],
                                     messages=[{"role": "user", "content": "hi"}], parameters={}, stream=False).id)
    assert app.start_generation(gid, "w1", "msg-7").attempt == 1
    assert app.start_generation(gid, "w2", "msg-8") is None  # a copy while it runs: left to w1
    assert app.start_generation(gid, "w2", None) is None
    taken = app.start_generation(gid, "w2", "msg-7")  # its message came back: w1 stopped keeping it alive
    assert taken.attempt == 2 and taken.delivery == "msg-7"
    assert app.start_generation(gid, "w3", "msg-9", resume=True).attempt == 3  # the embedded start-up
    app.complete_generation(gid, model="openai:m", provider="openai", output={"text": "ok"}, usage={},
                            finish_reason="stop", latency_ms=1.0, ttft_ms=None)
    assert app.start_generation(gid, "w3", "msg-7") is None  # finished: nothing to do


def test_a_download_is_taken_over_from_its_own_message_or_on_resume(app: Gateway) -> None:
    plan = {"repo_id": "org/x", "revision": "main", "commit_sha": "c", "files": [{"path": "a.gguf", "size": 1}]}
    job, _ = app.request_download(owner_id="u1", model_id="local:x", model={"id": "x", "name": "x", "version": "1",
                                                                          "modality": "text"},
                                  source={"type": "huggingface", "id": "org/x"}, options={}, plan=plan)
    jid = str(job.id)
    assert app.start_download(jid, "w1", "msg-1").attempt == 1
    assert app.start_download(jid, "w2", "msg-2") is None
    assert app.start_download(jid, "w2", "msg-1").attempt == 2
    assert app.start_download(jid, "w3", "msg-3", resume=True).attempt == 3  # the embedded start-up sweep
