"""Download responsiveness: how long a cancel takes, and how fast a model already present is answered.

Cancel: the hub client cancelled in-process (the baseline: the poll interval and the socket) versus
``DELETE /v1/jobs/{id}`` on a running download through an embedded gateway, which answers once the worker has
stopped and removed the partial files. Already present: ``POST /v1/models/download`` for a downloaded model.
Prints one JSON line with p50/max of each, in milliseconds.

    .venv/bin/python bench/downloads.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from downloads.hub import DownloadCancelled, HubClient  # noqa: E402
from tests.fakes.hf_hub import FakeHub  # noqa: E402
from tests.support.processes import embedded_gateway  # noqa: E402

BIG = os.urandom(4_000_000)
RATE = 400_000  # bytes a second: ten seconds for the file, so every cancel lands mid-file


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(values), 1), "max_ms": round(max(values), 1)}


def cancel_in_process(hub: FakeHub, folder: Path) -> float:
    client = HubClient(endpoint=hub.url, poll_s=0.2)
    plan = client.plan("org/big")
    cancel, moving, ended = threading.Event(), threading.Event(), {}

    def run() -> None:
        try:
            client.download(plan, folder, on_progress=lambda done, *_: done > 0 and moving.set(), cancel_event=cancel)
        except DownloadCancelled:
            ended["at"] = time.perf_counter()

    worker = threading.Thread(target=run)
    worker.start()
    moving.wait(10)
    time.sleep(random.uniform(0, 0.05))  # like a user's cancel, at any point between two of the hub's chunks
    asked = time.perf_counter()
    cancel.set()
    worker.join(30)
    return (ended["at"] - asked) * 1000


def cancel_through_gateway(client: httpx.Client, model_id: str) -> float:
    job = client.post("/v1/models/download", json={
        "model": {"id": model_id, "modality": "text"}, "source": {"type": "huggingface", "id": "org/big"}}).json()
    while client.get(f"/v1/jobs/{job['job_id']}").json()["bytes_done"] == 0:
        time.sleep(0.05)
    asked = time.perf_counter()
    response = client.delete(f"/v1/jobs/{job['job_id']}")
    took = (time.perf_counter() - asked) * 1000
    assert response.json()["status"] == "cancelled", response.text
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    result: dict = {"bench": "downloads", "rounds": args.rounds}
    with FakeHub(bytes_per_second=RATE) as hub, tempfile.TemporaryDirectory() as tmp:
        hub.add_repo("org/big", files={"model.gguf": BIG}, library="gguf")
        hub.add_repo("org/small", files={"model.gguf": b"GGUF" + bytes(1000)}, library="gguf")
        result["cancel_hub_client"] = summary([cancel_in_process(hub, Path(tmp) / f"direct-{i}")
                                               for i in range(args.rounds)])
        with embedded_gateway(Path(tmp) / "data", LLM_API_HF_ENDPOINT=hub.url) as gateway, \
                gateway.client(gateway.user("bench", admin=True)["api_key"]) as client:
            result["cancel_gateway"] = summary([cancel_through_gateway(client, f"cancelled-{i}")
                                                for i in range(args.rounds)])
            small = {"model": {"id": "small", "modality": "text"}, "source": {"type": "huggingface", "id": "org/small"}}
            job = client.post("/v1/models/download", json=small).json()
            while client.get(f"/v1/jobs/{job['job_id']}").json()["status"] != "completed":
                time.sleep(0.05)
            present = []
            for _ in range(args.rounds * 4):
                asked = time.perf_counter()
                assert client.post("/v1/models/download", json=small).status_code == 200
                present.append((time.perf_counter() - asked) * 1000)
            result["already_present"] = summary(present)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
