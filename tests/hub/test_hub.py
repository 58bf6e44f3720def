"""The hub client against the fake hub, over real HTTP (no mocks)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from domain.errors import InvalidRequest, NotFound, ProviderError, ProviderUnavailable
from downloads.hub import DownloadCancelled, DownloadPlan, HubClient, modality_hints
from tests.fakes.hf_hub import FakeHub, admin_add_repo

WEIGHTS = os.urandom(300_000)
CONFIG = b'{"architectures": ["LlamaForCausalLM"]}'


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def hub():
    with FakeHub(page_size=2) as fake:
        fake.add_repo("org/tiny-llama", files={"model.gguf": WEIGHTS, "config.json": CONFIG, "docs/README.md": b"hi"},
                      pipeline_tag="text-generation", library="gguf", downloads=500)
        yield fake


@pytest.fixture
def client(hub):
    return HubClient(endpoint=hub.url, poll_s=0.2)


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


# -- search ---------------------------------------------------------------------------------------------------
def test_search_pages_through_results_with_a_cursor(hub, client):
    for i in range(4):
        hub.add_repo(f"org/llama-{i}", files={"a.gguf": b"x"}, library="gguf", downloads=i)
    hub.add_repo("other/unrelated", files={"a.bin": b"x"}, downloads=1000)

    seen, cursor, pages = [], None, 0
    while True:
        page, cursor = client.search("llama", cursor=cursor, limit=2)
        pages += 1
        seen += [r["id"] for r in page]
        if cursor is None:
            break
    assert pages == 3
    assert seen == ["org/tiny-llama", "org/llama-3", "org/llama-2", "org/llama-1", "org/llama-0"]
    first = client.search("llama", limit=1)[0][0]
    assert first["name"] == "tiny-llama" and first["downloads"] == 500 and first["modality_hints"] == ["text"]
    assert first["last_modified"] and "gguf" in first["tags"]
    # the fake pages by 2, so reaching offset 4 followed the hub's Link rel="next" cursors
    assert any("cursor=" in r.path for r in hub.requests if r.path.startswith("/api/models?"))


def test_search_filters_by_modality(hub, client):
    hub.add_repo("org/tiny-sd", files={"model_index.json": b"{}"}, pipeline_tag="text-to-image",
                 library="diffusers", downloads=50)
    hub.add_repo("org/tiny-shap-e", files={"model_index.json": b"{}"}, pipeline_tag="text-to-3d",
                 library="diffusers", downloads=40)
    hub.add_repo("org/tiny-ct", files={"model.bin": b"x"}, library="ctransformers", downloads=30)
    hub.add_repo("org/tiny-bert", files={"model.bin": b"x"}, pipeline_tag="fill-mask", downloads=20)

    ids = lambda modality: [r["id"] for r in client.search("tiny", modality=modality, limit=10)[0]]  # noqa: E731
    assert ids("text") == ["org/tiny-llama", "org/tiny-ct"]
    assert ids("image") == ["org/tiny-sd"]
    assert ids("3d") == ["org/tiny-shap-e"]
    assert len(ids(None)) == 5
    page, cursor = client.search("tiny", modality="text", limit=1)
    assert [r["id"] for r in page] == ["org/tiny-llama"]
    assert [r["id"] for r in client.search("tiny", modality="text", cursor=cursor, limit=1)[0]] == ["org/tiny-ct"]


def test_modality_hints():
    assert modality_hints("text-generation", "transformers") == ["text"]
    assert modality_hints(None, "llama.cpp") == ["text"]
    assert modality_hints("text-to-image", "diffusers") == ["image"]
    assert modality_hints("image-to-3d", "diffusers") == ["3d"]
    assert modality_hints(None, None, ["shap-e"]) == ["3d"]
    assert modality_hints("fill-mask", "transformers") == []


def test_search_rejects_bad_arguments(client):
    with pytest.raises(InvalidRequest) as bad_modality:
        client.search("x", modality="audio")
    assert bad_modality.value.param == "modality"
    with pytest.raises(InvalidRequest) as bad_cursor:
        client.search("x", cursor="not-a-cursor")
    assert bad_cursor.value.param == "cursor"
    with pytest.raises(InvalidRequest):
        client.search("x", limit=0)


# -- plan -----------------------------------------------------------------------------------------------------
def test_plan_lists_files_with_sizes_and_lfs_checksums(hub, client):
    plan = client.plan("org/tiny-llama")
    assert len(plan.commit_sha) == 40
    by_path = {f.path: f for f in plan.files}
    assert sorted(by_path) == ["config.json", "docs/README.md", "model.gguf"]
    assert by_path["model.gguf"].size == len(WEIGHTS) and by_path["model.gguf"].sha256 == sha256(WEIGHTS)
    assert by_path["config.json"].sha256 is None  # not in LFS: the hub gives a git oid only
    assert plan.total_bytes == len(WEIGHTS) + len(CONFIG) + 2
    assert DownloadPlan.from_dict(plan.to_dict()) == plan


def test_plan_resolves_another_revision(hub, client):
    v2 = hub.add_repo("org/tiny-llama", files={"model.gguf": b"v2 weights"}, revision="v2")
    plan = client.plan("org/tiny-llama", revision="v2")
    assert plan.commit_sha == v2 and [f.path for f in plan.files] == ["model.gguf"]
    assert client.plan("org/tiny-llama", revision=v2).commit_sha == v2


def test_plan_unknown_repo_and_revision(client):
    with pytest.raises(NotFound) as repo:
        client.plan("org/missing")
    assert repo.value.code == "repo_not_found"
    with pytest.raises(InvalidRequest) as revision:
        client.plan("org/tiny-llama", revision="v404")
    assert revision.value.code == "revision_not_found"


def test_plan_allow_patterns(client):
    plan = client.plan("org/tiny-llama", allow_patterns=["*.gguf"])
    assert [f.path for f in plan.files] == ["model.gguf"]
    assert [f.path for f in client.plan("org/tiny-llama", allow_patterns="docs/*").files] == ["docs/README.md"]
    with pytest.raises(InvalidRequest) as nothing:
        client.plan("org/tiny-llama", allow_patterns=["*.safetensors"])
    assert nothing.value.param == "allow_patterns" and "model.gguf" in nothing.value.message


# -- download -------------------------------------------------------------------------------------------------
def test_download_reports_ordered_progress_and_verifies(hub, client, tmp_path):
    hub.bytes_per_second = 1_500_000  # ~0.2 s, so several progress reports
    plan = client.plan("org/tiny-llama")
    calls = []
    started = time.monotonic()
    result = client.download(plan, tmp_path / "m", on_progress=lambda *a: calls.append(a))
    elapsed = time.monotonic() - started

    assert files_under(tmp_path / "m") == ["config.json", "docs", "docs/README.md", "model.gguf"]
    assert (tmp_path / "m" / "model.gguf").read_bytes() == WEIGHTS
    assert result.sha256["model.gguf"] == sha256(WEIGHTS) and result.sha256["config.json"] == sha256(CONFIG)
    assert result.size_bytes == plan.total_bytes and result.path == tmp_path / "m"
    done = [c[0] for c in calls]
    assert done == sorted(done) and calls[-1][:2] == (plan.total_bytes, plan.total_bytes)
    assert all(c[1] == plan.total_bytes for c in calls)
    assert 3 <= len(calls) <= elapsed * 10 + 3  # throttled to ~10 a second
    assert any(c[2] == "model.gguf" for c in calls)


def test_download_again_keeps_verified_files(hub, client, tmp_path):
    plan = client.plan("org/tiny-llama")
    client.download(plan, tmp_path / "m")
    hub.reset_stats()
    result = client.download(plan, tmp_path / "m")
    assert hub.bytes_served == 0 and result.sha256["model.gguf"] == sha256(WEIGHTS)


def test_cancel_mid_file_leaves_no_files(hub, client, tmp_path):
    hub.bytes_per_second = 100_000  # 3 s for the weights
    plan = client.plan("org/tiny-llama")
    cancel, mid_file = threading.Event(), threading.Event()
    outcome: dict = {}

    def on_progress(done, total, current):
        if current == "model.gguf" and done > 30_000:
            mid_file.set()

    def run():
        try:
            client.download(plan, tmp_path / "m", on_progress=on_progress, cancel_event=cancel)
        except BaseException as e:  # noqa: BLE001
            outcome["error"] = e

    worker = threading.Thread(target=run)
    worker.start()
    assert mid_file.wait(5)
    cancel.set()
    worker.join(5)
    assert isinstance(outcome["error"], DownloadCancelled)
    assert hub.bytes_served_by_path["model.gguf"] < len(WEIGHTS)  # stopped mid-file (latency: bench/downloads.py)
    assert not (tmp_path / "m").exists()


def test_cancel_is_seen_while_the_connection_stalls(hub, tmp_path):
    hub.bytes_per_second = 1  # one byte, then a second of silence
    client = HubClient(endpoint=hub.url, poll_s=0.2)
    plan = client.plan("org/tiny-llama", allow_patterns=["*.gguf"])
    event = threading.Event()
    cancel = threading.Timer(0.5, event.set)
    cancel.start()
    with pytest.raises(DownloadCancelled):  # at one byte a second, nothing else ends this download
        client.download(plan, tmp_path / "m", cancel_event=event)
    assert not (tmp_path / "m").exists()


def test_resume_after_an_interrupted_download_uses_range(hub, tmp_path):
    """The worker died mid-file (here: no in-process retries); the redelivered job resumes from the .part."""
    client = HubClient(endpoint=hub.url, resume_attempts=0)
    plan = client.plan("org/tiny-llama", allow_patterns=["*.gguf"])
    hub.fail_next(path="model.gguf", after_bytes=120_000)
    with pytest.raises(ProviderUnavailable) as dropped:
        client.download(plan, tmp_path / "m")
    assert dropped.value.retryable
    part = tmp_path / "m" / "model.gguf.part"
    assert part.stat().st_size == 120_000 and not (tmp_path / "m" / "model.gguf").exists()

    hub.reset_stats()
    result = client.download(plan, tmp_path / "m")
    assert hub.range_requests == [("model.gguf", "bytes=120000-")]
    assert hub.bytes_served == len(WEIGHTS) - 120_000
    assert result.sha256["model.gguf"] == sha256(WEIGHTS)
    assert (tmp_path / "m" / "model.gguf").read_bytes() == WEIGHTS and not part.exists()


def test_dropped_connection_and_5xx_are_resumed_in_process(hub, client, tmp_path):
    plan = client.plan("org/tiny-llama", allow_patterns=["*.gguf"])
    hub.fail_next(path="model.gguf", after_bytes=50_000)
    hub.fail_next(path="model.gguf", status=500)
    result = client.download(plan, tmp_path / "m")
    assert result.sha256["model.gguf"] == sha256(WEIGHTS)
    assert hub.range_requests == [("model.gguf", "bytes=50000-"), ("model.gguf", "bytes=50000-")]
    assert hub.bytes_served == len(WEIGHTS)


def test_hub_errors_past_the_retries_keep_the_part_files(hub, tmp_path):
    client = HubClient(endpoint=hub.url, resume_attempts=1)
    plan = client.plan("org/tiny-llama", allow_patterns=["*.gguf"])
    hub.fail_next(path="model.gguf", after_bytes=10_000)
    hub.fail_next(path="model.gguf", status=503, count=2)
    with pytest.raises(ProviderUnavailable) as unavailable:
        client.download(plan, tmp_path / "m")
    assert unavailable.value.retryable and unavailable.value.code == "hub_unavailable"
    assert files_under(tmp_path / "m") == ["model.gguf.part"]
    assert hub.range_requests == [("model.gguf", "bytes=10000-")] * 2


def test_checksum_mismatch_fails_cleanly(hub, client, tmp_path):
    hub.add_repo("org/corrupt", files={"model.gguf": WEIGHTS, "config.json": CONFIG},
                 advertise={"model.gguf": {"sha256": "0" * 64}})
    plan = client.plan("org/corrupt")
    with pytest.raises(ProviderError) as mismatch:
        client.download(plan, tmp_path / "m")
    assert mismatch.value.code == "checksum_mismatch" and not mismatch.value.retryable
    assert not (tmp_path / "m").exists()


def test_size_mismatch_fails_cleanly(hub, client, tmp_path):
    hub.add_repo("org/short", files={"model.gguf": WEIGHTS}, advertise={"model.gguf": {"size": len(WEIGHTS) + 1}})
    with pytest.raises(ProviderError) as mismatch:
        client.download(client.plan("org/short"), tmp_path / "m")
    assert mismatch.value.code == "size_mismatch" and not (tmp_path / "m").exists()


def test_refuses_when_the_disk_is_too_small(hub, client, tmp_path):
    plan = client.plan("org/tiny-llama")
    with pytest.raises(InvalidRequest) as full:
        client.download(plan, tmp_path / "m", free_bytes=lambda path: plan.total_bytes - 1)
    assert full.value.code == "insufficient_storage"
    assert not (tmp_path / "m").exists() and hub.bytes_served == 0

    hub.add_repo("org/huge", files={"model.gguf": b"x"}, advertise={"model.gguf": {"size": 10**18}})
    with pytest.raises(InvalidRequest) as huge:
        client.download(client.plan("org/huge"), tmp_path / "h")  # the real free space of this disk
    assert huge.value.code == "insufficient_storage" and not (tmp_path / "h").exists()


def test_disk_check_counts_bytes_already_on_disk(hub, tmp_path):
    client = HubClient(endpoint=hub.url, resume_attempts=0)
    plan = client.plan("org/tiny-llama", allow_patterns=["*.gguf"])
    hub.fail_next(after_bytes=200_000)
    with pytest.raises(ProviderUnavailable):
        client.download(plan, tmp_path / "m")
    result = client.download(plan, tmp_path / "m", free_bytes=lambda path: len(WEIGHTS) - 200_000)
    assert result.sha256["model.gguf"] == sha256(WEIGHTS)


def test_remove(client, tmp_path):
    client.download(client.plan("org/tiny-llama"), tmp_path / "m")
    client.remove(tmp_path / "m")
    assert not (tmp_path / "m").exists()
    client.remove(tmp_path / "m")  # already gone: fine


# -- the fake itself ------------------------------------------------------------------------------------------
def test_fake_serves_huggingface_hub_downloads(hub, tmp_path):
    from huggingface_hub import hf_hub_download

    path = hf_hub_download("org/tiny-llama", "model.gguf", endpoint=hub.url, cache_dir=tmp_path, token=False)
    assert Path(path).read_bytes() == WEIGHTS


def test_fake_runs_as_a_subprocess(tmp_path):
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.hf_hub", "--port", "0"], cwd=root,
                            stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        sha = admin_add_repo(url, "org/remote", {"model.gguf": WEIGHTS}, pipeline_tag="text-generation")
        client = HubClient(endpoint=url)
        plan = client.plan("org/remote")
        assert plan.commit_sha == sha
        assert client.download(plan, tmp_path / "r").sha256["model.gguf"] == sha256(WEIGHTS)
    finally:
        proc.terminate()
        proc.wait(5)
