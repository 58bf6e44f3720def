"""The worker loop: take generation work from the bus, run the runtime, record the outcome, then ack.

Work message: ``{"generation_id"}`` on ``work.generate.<runtime>``. For each: append ``Started``; stream
chunks to ``tokens.<generation id>`` (``token``/``progress``, then ``done`` or ``error``); append
``Completed`` or ``Failed`` (through the commands); only then ack. A worker that dies before acking has its
work redelivered (``ack_wait``); a redelivered generation that finished already is just acked. A
``control.cancel.<id>`` signal stops the running task.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import time
from concurrent.futures import Executor
from typing import Any

from commands.responses import error_object, generation_response
from commands.service import Gateway
from domain.errors import GatewayError, ProviderError, RuntimeFailure
from domain.generations import CANCELLED, Generation
from infra import metrics
from infra.artifacts import ArtifactStore
from infra.bus.base import Bus, Delivery, Subscription, keep_alive
from infra.bus.subjects import queue_name, token_subject, work_subject
from runtimes.base import GenerationRequest, Message, Progress, Result, TextDelta
from runtimes.credentials import CredentialResolver
from runtimes.registry import RuntimeRegistry

log = logging.getLogger(__name__)


def encode_stream_event(index: int, event: str, data: dict[str, Any]) -> bytes:
    return json.dumps({"i": index, "event": event, "data": data}).encode()


class TokenStream:
    """Numbered events of one generation on its token subject."""

    def __init__(self, bus: Bus, generation_id: str) -> None:
        self.bus, self.subject, self.index = bus, token_subject(generation_id), 0

    async def send(self, event: str, data: dict[str, Any]) -> None:
        self.index += 1
        await self.bus.publish(self.subject, encode_stream_event(self.index, event, data))


class Worker:
    def __init__(self, app: Gateway, bus: Bus, registry: RuntimeRegistry, credentials: CredentialResolver,
                 artifacts: ArtifactStore, settings: Any, executor: Executor | None = None) -> None:
        self.app, self.bus, self.registry = app, bus, registry
        self.credentials, self.artifacts, self.settings = credentials, artifacts, settings
        self.executor = executor
        self.name = f"{socket.gethostname()}:{id(self):x}"
        self._subs: list[Subscription] = []
        self.running: dict[str, asyncio.Task] = {}
        self._stopping = False

    async def _sync(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))

    async def start(self, runtimes: list[str], concurrency: int = 8) -> None:
        self._subs.append(await self.bus.subscribe("control.cancel.*", self._on_cancel))
        for name in runtimes:
            self._subs.append(await self.bus.consume(work_subject(name), queue_name(name), self.handle,
                                                     concurrency=concurrency))

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.stop()
        self._subs.clear()
        self._stopping = True  # running work is left unacked: the bus redelivers it to another worker

    async def _on_cancel(self, subject: str, data: bytes) -> None:
        task = self.running.get(subject.rsplit(".", 1)[-1])
        if task is not None:
            task.cancel()

    async def handle(self, delivery: Delivery) -> None:
        payload = json.loads(delivery.data)
        generation_id = payload["generation_id"]
        generation: Generation | None = await self._sync(self.app.start_generation, generation_id, self.name,
                                                         delivery.message_id, bool(payload.get("resume")))
        if generation is None:  # finished already: redelivered or swept work
            await delivery.ack()
            return
        heartbeat = asyncio.create_task(keep_alive(delivery, max(1.0, self.settings.work_ack_wait_s / 3)))
        task = asyncio.create_task(self._run(generation))
        self.running[generation_id] = task
        try:
            await asyncio.shield(task)  # a user's cancel stops the task; stopping the worker does not
        finally:
            heartbeat.cancel()
            self.running.pop(generation_id, None)
        await delivery.ack()

    def _request(self, generation: Generation, target: dict[str, str]) -> GenerationRequest:
        runtime = self.registry.get(target["runtime"])
        credential = None
        if runtime.needs_credential:
            credential = self.credentials.resolve(generation.owner_id, target["runtime"])
        return GenerationRequest(
            generation_id=str(generation.id), model=target["location"], modality=generation.modality,
            messages=tuple(Message(m["role"], m["content"]) for m in generation.messages),
            parameters=dict(generation.parameters), credential=credential, owner_id=generation.owner_id,
            stream=generation.stream)

    async def _run(self, generation: Generation) -> None:
        gid = str(generation.id)
        stream = TokenStream(self.bus, gid)
        started = time.perf_counter()
        ttft: float | None = None
        target = generation.targets[0]
        try:
            for position, target in enumerate(generation.targets):
                emitted = False
                try:
                    runtime = self.registry.get(target["runtime"])
                    result: Result | None = None
                    async for chunk in runtime.execute(self._request(generation, target)):
                        if isinstance(chunk, TextDelta):
                            if not chunk.text:
                                continue
                            if ttft is None:
                                ttft = (time.perf_counter() - started) * 1000
                            emitted = True
                            await stream.send("token", {"text": chunk.text})
                        elif isinstance(chunk, Progress):
                            await stream.send("progress", {"step": chunk.step, "total": chunk.total})
                        elif isinstance(chunk, Result):
                            result = chunk
                    if result is None:
                        raise RuntimeFailure(f"The {target['runtime']} runtime ended without a result.",
                                             provider=target["runtime"])
                    break
                except ProviderError as error:
                    last = position == len(generation.targets) - 1
                    if not error.retryable or emitted or last:
                        raise
                    log.info("generation %s: %s failed (%s), falling back", gid, target["model"], error.code)
            await self._complete(generation, target, result, stream, started, ttft)
        except asyncio.CancelledError:
            if self._stopping:
                raise
            await self._cancelled(gid, stream)
        except GatewayError as error:
            await self._fail(generation, target, error, stream)
        except Exception as error:  # a bug in a runtime: record it, keep the worker alive
            log.exception("generation %s crashed", gid)
            await self._fail(generation, target, RuntimeFailure(f"The runtime failed: {type(error).__name__}.",
                                                                provider=target["runtime"]), stream)

    def _output(self, generation: Generation, result: Result) -> dict[str, Any]:
        output: dict[str, Any] = {}
        if result.text is not None:
            output["text"] = result.text
        images, artifacts = [], []
        for blob in result.images:
            if len(blob.data) <= self.settings.inline_max_bytes:
                images.append(base64.b64encode(blob.data).decode())
            else:
                artifacts.append(self.artifacts.save(generation.owner_id, blob.data, blob.mime_type,
                                                     blob.extension).ref())
        for blob in result.files:
            artifacts.append(self.artifacts.save(generation.owner_id, blob.data, blob.mime_type, blob.extension).ref())
        if images:
            output["images"] = images
        if artifacts:
            output["artifacts"] = artifacts
        return output

    async def _complete(self, generation: Generation, target: dict[str, str], result: Result, stream: TokenStream,
                        started: float, ttft: float | None) -> None:
        gid = str(generation.id)
        latency = (time.perf_counter() - started) * 1000
        recorded = {"model": target["model"], "provider": target["runtime"],
                    "usage": result.usage.as_dict(), "finish_reason": result.finish_reason,
                    "latency_ms": round(latency, 3), "ttft_ms": round(ttft, 3) if ttft is not None else None}

        def record() -> Generation | None:  # one trip to a thread: store the artifacts, then the event
            recorded["output"] = self._output(generation, result)
            return self.app.complete_generation(gid, **recorded)

        done = await self._sync(record)
        if done is None:  # cancelled meanwhile
            await self._cancelled(gid, stream)
            return
        metrics.GENERATIONS.labels(target["model"], "completed").inc()
        metrics.GENERATION_LATENCY.labels(target["model"]).observe(latency)
        if ttft is not None:
            metrics.TTFT.labels(target["model"]).observe(ttft)
        metrics.TOKENS.labels(target["model"], "input").inc(result.usage.input_tokens)
        metrics.TOKENS.labels(target["model"], "output").inc(result.usage.output_tokens)
        await stream.send("done", generation_response(gid, generation.modality, recorded))

    async def _fail(self, generation: Generation, target: dict[str, str], error: GatewayError,
                    stream: TokenStream) -> None:
        gid = str(generation.id)
        retry_after = getattr(error, "retry_after", None)
        failed = await self._sync(self.app.fail_generation, gid, model=target["model"], provider=target["runtime"],
                                  code=error.code, message=error.message, retryable=error.retryable,
                                  retry_after=retry_after)
        if failed is None:
            await self._cancelled(gid, stream)
            return
        metrics.GENERATIONS.labels(target["model"], "failed").inc()
        body = error_object(error.code, error.message, request_id=gid, type_=error.type, param=error.param)
        if retry_after is not None:
            body["retry_after"] = retry_after
        await stream.send("error", body)

    async def _cancelled(self, gid: str, stream: TokenStream) -> None:
        generation = await self._sync(self.app.cancel_generation, gid)
        if generation.status == CANCELLED:
            metrics.GENERATIONS.labels(generation.model, "cancelled").inc()
            await stream.send("error", error_object("cancelled", "The generation was cancelled.", request_id=gid,
                                                    type_="cancelled"))
