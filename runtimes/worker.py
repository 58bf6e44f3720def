"""The worker loop: take generation work from the bus, run the runtime, record the outcome, then ack.

Work message: :class:`~infra.bus.messages.GenerateWork` on ``work.generate.<runtime>``. For each: append
``Started``; stream chunks to ``tokens.<generation id>`` (``token``/``progress``, then ``done`` or ``error``);
append ``Completed`` or ``Failed`` (through the commands); only then ack. A worker that dies before acking has its
work redelivered (``ack_wait``); a redelivered generation that finished already is just acked. A
``control.cancel.<id>`` signal stops the running task.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import time
from typing import Any, cast

from commands.responses import generation_response
from commands.service import Gateway
from domain.errors import GatewayError, GenerationCancelled, ProviderError, RuntimeFailure
from domain.generations import CANCELLED, Generation
from infra import metrics
from infra.artifacts import ArtifactStore
from infra.bus.base import Bus, Delivery, Subscription, keep_alive
from infra.bus.messages import (
    CANCEL_SUBJECTS,
    DONE,
    ERROR,
    PROGRESS,
    TOKEN,
    GenerateWork,
    TokenStream,
    cancelled_id,
    queue_name,
    work_subject,
)
from infra.threads import Threads
from runtimes.base import GenerationRequest, Message, Modality, Progress, Result, Role, TextDelta
from runtimes.credentials import CredentialResolver
from runtimes.registry import RuntimeRegistry

log = logging.getLogger(__name__)
CANCELLED_MESSAGE = "The generation was cancelled."


class Worker:
    def __init__(
        self,
        app: Gateway,
        bus: Bus,
        registry: RuntimeRegistry,
        credentials: CredentialResolver,
        artifacts: ArtifactStore,
        settings: Any,
        threads: Threads,
    ) -> None:
        self.app, self.bus, self.registry = app, bus, registry
        self.credentials, self.artifacts, self.settings = credentials, artifacts, settings
        self.threads = threads
        self.name = f"{socket.gethostname()}:{id(self):x}"
        self._subs: list[Subscription] = []
        self.running: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    async def start(self, runtimes: list[str], concurrency: int = 8) -> None:
        self._subs.append(await self.bus.subscribe(CANCEL_SUBJECTS, self._on_cancel))
        for name in runtimes:
            try:
                await self.registry.get(name).prepare()
            except Exception:  # it fails again, and is reported, on its first work
                log.warning("runtime %s could not be prepared", name, exc_info=True)
            self._subs.append(
                await self.bus.consume(work_subject(name), queue_name(name), self.handle, concurrency=concurrency)
            )

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.stop()
        self._subs.clear()
        self._stopping = True  # running work is left unacked: the bus redelivers it to another worker

    async def _on_cancel(self, subject: str, data: bytes) -> None:
        task = self.running.get(cancelled_id(subject))
        if task is not None:
            task.cancel()

    async def handle(self, delivery: Delivery) -> None:
        work = GenerateWork.decode(delivery.data)
        generation_id = work.generation_id
        generation: Generation | None = await self.threads.run(
            self.app.start_generation, generation_id, self.name, delivery.message_id, work.resume
        )
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
            generation_id=str(generation.id),
            model=target["location"],
            modality=cast(Modality, generation.modality),
            messages=tuple(Message(cast(Role, m["role"]), m["content"]) for m in generation.messages),
            parameters=dict(generation.parameters),
            credential=credential,
            owner_id=generation.owner_id,
            stream=generation.stream,
        )

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
                            await stream.send(TOKEN, {"text": chunk.text})
                        elif isinstance(chunk, Progress):
                            await stream.send(PROGRESS, {"step": chunk.step, "total": chunk.total})
                        elif isinstance(chunk, Result):
                            result = chunk
                    if result is None:
                        raise RuntimeFailure(
                            f"The {target['runtime']} runtime ended without a result.", provider=target["runtime"]
                        )
                    break
                except ProviderError as error:
                    last = position == len(generation.targets) - 1
                    if not error.retryable or emitted or last:
                        raise
                    log.info("generation %s: %s failed (%s), falling back", gid, target["model"], error.code)
            assert result is not None  # the loop ends by ``break`` on a result, or raises
            await self._complete(generation, target, result, stream, started, ttft)
        except asyncio.CancelledError:
            if self._stopping:
                raise
            await self._cancelled(gid, stream)
        except GatewayError as error:
            await self._fail(generation, target, error, stream)
        except Exception as error:  # a bug in a runtime: record it, keep the worker alive
            log.exception("generation %s crashed", gid)
            await self._fail(
                generation,
                target,
                RuntimeFailure(f"The runtime failed: {type(error).__name__}.", provider=target["runtime"]),
                stream,
            )
        if not generation.stream:  # answered in one piece: nobody follows its events again (a replay rebuilds them)
            await stream.release()

    def _output(self, generation: Generation, result: Result) -> dict[str, Any]:
        output: dict[str, Any] = {}
        if result.text is not None:
            output["text"] = result.text
        images, artifacts = [], []
        for blob in result.images:
            if len(blob.data) <= self.settings.inline_max_bytes:
                images.append(base64.b64encode(blob.data).decode())
            else:
                artifacts.append(
                    self.artifacts.save(generation.owner_id, blob.data, blob.mime_type, blob.extension).ref()
                )
        artifacts += [
            self.artifacts.save(generation.owner_id, b.data, b.mime_type, b.extension).ref() for b in result.files
        ]
        if images:
            output["images"] = images
        if artifacts:
            output["artifacts"] = artifacts
        return output

    async def _complete(
        self,
        generation: Generation,
        target: dict[str, str],
        result: Result,
        stream: TokenStream,
        started: float,
        ttft: float | None,
    ) -> None:
        gid = str(generation.id)
        latency = (time.perf_counter() - started) * 1000
        recorded = {
            "model": target["model"],
            "provider": target["runtime"],
            "usage": result.usage.as_dict(),
            "finish_reason": result.finish_reason,
            "latency_ms": round(latency, 3),
            "ttft_ms": round(ttft, 3) if ttft is not None else None,
        }

        def record() -> Generation | None:  # one trip to a thread: store the artifacts, then the event
            recorded["output"] = self._output(generation, result)
            return self.app.complete_generation(gid, **recorded)

        done = await self.threads.run(record)
        if done is None:  # cancelled meanwhile
            await self._cancelled(gid, stream)
            return
        label = self.registry.model_label(target)
        metrics.GENERATIONS.labels(label, "completed").inc()
        metrics.GENERATION_LATENCY.labels(label).observe(latency)
        if ttft is not None:
            metrics.TTFT.labels(label).observe(ttft)
        metrics.TOKENS.labels(label, "input").inc(result.usage.input_tokens)
        metrics.TOKENS.labels(label, "output").inc(result.usage.output_tokens)
        await stream.send(DONE, generation_response(gid, generation.modality, recorded))

    async def _fail(
        self, generation: Generation, target: dict[str, str], error: GatewayError, stream: TokenStream
    ) -> None:
        gid = str(generation.id)
        failed = await self.threads.run(
            self.app.fail_generation,
            gid,
            model=target["model"],
            provider=target["runtime"],
            code=error.code,
            message=error.message,
            retryable=error.retryable,
            retry_after=getattr(error, "retry_after", None),
        )
        if failed is None:
            await self._cancelled(gid, stream)
            return
        metrics.GENERATIONS.labels(self.registry.model_label(target), "failed").inc()
        await stream.send(ERROR, error.body(gid))

    async def _cancelled(self, gid: str, stream: TokenStream) -> None:
        generation = await self.threads.run(self.app.cancel_generation, gid)
        if generation.status == CANCELLED:
            metrics.GENERATIONS.labels(self.registry.model_label(generation.targets[0]), "cancelled").inc()
            await stream.send(ERROR, GenerationCancelled(CANCELLED_MESSAGE).body(gid))
