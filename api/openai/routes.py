"""The routes of ``/openai/v1``: chat completions (with streaming), image generations, models."""

from __future__ import annotations

import base64
import time
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from api.errors import body_response
from api.openai import protocol
from api.request import json_body, principal, services
from api.schemas import parse
from api.sse import open_stream, sse_frame
from infra.bus.messages import DONE, ERROR, TOKEN

bp = Blueprint("openai_compat")


@bp.post("/openai/v1/chat/completions")
async def chat_completions(request: Request) -> HTTPResponse | None:
    body = parse(protocol.ChatCompletionIn, json_body(request))
    generations = services(request).generations
    generation = await generations.submit(principal(request), body.order())
    created = int(time.time())
    async with generations.follow(generation) as run:
        ident, headers = f"chatcmpl-{run.gid}", {"X-Generation-ID": run.gid}
        if not body.stream:
            outcome = await run.outcome()
            if outcome.event != DONE:
                return body_response(outcome.data)
            return json_response(protocol.chat_completion(ident, created, outcome.data), headers=headers)
        chunks = protocol.Chunks(ident, created, run.model, body.include_usage)
        response = await open_stream(request, headers)
        await response.send(sse_frame(chunks.delta({"role": "assistant", "content": ""})))
        sent_text = False
        async for event in run.events():
            data = event.data
            if event.event == TOKEN and data.get("text"):
                sent_text = True
                await response.send(sse_frame(chunks.delta({"content": data["text"]})))
            elif event.event == DONE:
                chunks.model = data["model"]
                text = data["output"].get("text")
                if text and not sent_text:  # a runtime that answered in one piece
                    await response.send(sse_frame(chunks.delta({"content": text})))
                await response.send(sse_frame(chunks.delta({}, data["finish_reason"] or "stop")))
                if chunks.include_usage:
                    await response.send(sse_frame(chunks.usage(data["usage"])))
            elif event.event == ERROR:
                await response.send(sse_frame({"error": {**data, "request_id": data.get("request_id") or run.gid}}))
        await response.send(sse_frame("[DONE]"))
        await response.eof()
        return None


@bp.post("/openai/v1/images/generations")
async def image_generations(request: Request) -> HTTPResponse:
    body = parse(protocol.ImageGenerationIn, json_body(request))
    use = services(request)
    who = principal(request)
    generation = await use.generations.submit(who, body.order())
    created = int(time.time())
    async with use.generations.follow(generation) as run:
        outcome = await run.outcome()
    if outcome.event != DONE:
        return body_response(outcome.data)
    output = outcome.data["output"]
    images = list(output.get("images") or ())
    artifacts = [a for a in output.get("artifacts") or () if str(a.get("mime_type", "")).startswith("image/")]
    answer: list[dict[str, Any]] = []
    if body.response_format == "url":
        answer += [{"url": f"data:image/png;base64,{b64}"} for b64 in images]
        answer += [{"url": f"{request.scheme}://{request.host}{a['url']}"} for a in artifacts]
    else:
        answer += [{"b64_json": b64} for b64 in images]
        for ref in artifacts:
            raw = await use.accounts.artifact_bytes(who, ref["id"])
            if raw is not None:
                answer.append({"b64_json": base64.b64encode(raw).decode()})
    return json_response({"created": created, "data": answer}, headers={"X-Generation-ID": run.gid})


@bp.get("/openai/v1/models")
async def list_models(request: Request) -> HTTPResponse:
    return json_response(protocol.model_list(await services(request).models.listing(principal(request))))
