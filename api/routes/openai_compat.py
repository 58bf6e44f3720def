"""``/openai/v1/...``: the OpenAI-compatible surface (chat completions, image generations, models).

Each request is translated into our ``GenerateIn`` and runs the one generation flow (``submit`` + ``Watch``);
only the answer is reshaped into OpenAI's format. Errors keep our error shape, whose ``error.message``,
``type``, ``param`` and ``code`` are what the OpenAI SDKs read.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any, Literal

from pydantic import Field
from sanic import Blueprint, Request
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from api.app import container, principal
from api.errors import error_response
from api.generation_flow import Watch, submit
from api.routes.generate import body_of
from api.routes.models import catalogue
from api.schemas import GenerateIn, Strict, parse
from api.sse import open_stream
from domain.errors import GatewayError, InvalidRequest, error_from_code

bp = Blueprint("openai_compat")

SIZE_HINT = 'size must be "WIDTHxHEIGHT" (e.g. "1024x1024") or "auto".'


class TextPart(Strict):
    type: Literal["text"]
    text: str


class ChatMessageIn(Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None  # accepted and ignored, as OpenAI models mostly do


class StreamOptionsIn(Strict):
    include_usage: bool = False


class ChatCompletionIn(Strict):
    model: str
    messages: list[ChatMessageIn] = Field(min_length=1)
    temperature: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool | None = False
    stream_options: StreamOptionsIn | None = None
    n: int | None = None
    user: str | None = None


class ImageGenerationIn(Strict):
    model: str | None = None
    prompt: str
    n: int | None = None
    size: str | None = None
    response_format: Literal["b64_json", "url"] | None = None
    user: str | None = None


def chat_request(body: ChatCompletionIn) -> GenerateIn:
    if body.n not in (None, 1):
        raise InvalidRequest("Only n=1 is supported.", param="n")
    if body.stream_options is not None and not body.stream:
        raise InvalidRequest("stream_options is only allowed with stream: true.", param="stream_options")
    if body.max_tokens is not None and body.max_completion_tokens is not None:
        raise InvalidRequest("Give max_tokens or max_completion_tokens, not both.", param="max_tokens")
    messages = []
    for m in body.messages:
        text = m.content if isinstance(m.content, str) else "".join(part.text for part in m.content)
        messages.append({"role": "system" if m.role == "developer" else m.role, "content": text})
    parameters = {"temperature": body.temperature, "top_p": body.top_p, "stop": body.stop, "seed": body.seed,
                  "max_tokens": body.max_completion_tokens if body.max_completion_tokens is not None
                  else body.max_tokens}
    return parse(GenerateIn, {"modality": "text", "model": body.model, "input": {"messages": messages},
                              "parameters": {k: v for k, v in parameters.items() if v is not None},
                              "stream": bool(body.stream)})


def image_request(body: ImageGenerationIn) -> GenerateIn:
    parameters: dict[str, Any] = {}
    if body.n is not None:
        parameters["n"] = body.n
    if body.size is not None and body.size != "auto":
        width, x, height = body.size.lower().partition("x")
        if not (x and width.isdigit() and height.isdigit()):
            raise InvalidRequest(SIZE_HINT, param="size")
        parameters["width"], parameters["height"] = int(width), int(height)
    request: dict[str, Any] = {"modality": "image", "input": {"prompt": body.prompt}, "parameters": parameters}
    if body.model is not None:
        request["model"] = body.model
    return parse(GenerateIn, request)


async def outcome(watch: Watch, timeout: float) -> dict[str, Any]:
    """The ``done`` data of a generation; its failure raised as our error."""
    async for event in watch.events(timeout):
        if event["event"] == "done":
            return event["data"]
        if event["event"] == "error":
            data = event["data"]
            raise error_from_code(data["code"], data["message"], retry_after=data.get("retry_after"))
    raise AssertionError("the event stream ended without an outcome")


def openai_usage(usage: dict[str, Any]) -> dict[str, int]:
    prompt, completion = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def sse_data(data: Any) -> str:
    return "data: " + json.dumps(data, separators=(",", ":")) + "\n\n"


@bp.post("/openai/v1/chat/completions")
async def chat_completions(request: Request) -> HTTPResponse | None:
    c, who = container(request), principal(request)
    body = parse(ChatCompletionIn, body_of(request))
    generation = await submit(c, who, chat_request(body))
    created = int(time.time())
    async with Watch(c, generation) as watch:
        ident = f"chatcmpl-{watch.gid}"
        headers = {"X-Generation-ID": watch.gid}
        if not body.stream:
            try:
                data = await outcome(watch, c.settings.request_timeout_s)
            except GatewayError as error:
                return error_response(request, error, request_id=watch.gid)
            return json_response({
                "id": ident, "object": "chat.completion", "created": created, "model": data["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": data["output"].get("text") or ""},
                             "finish_reason": data["finish_reason"] or "stop"}],
                "usage": openai_usage(data["usage"])}, headers=headers)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        model = generation.targets[0]["model"]

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
            data: dict[str, Any] = {"id": ident, "object": "chat.completion.chunk", "created": created,
                                    "model": model, "choices": [{"index": 0, "delta": delta,
                                                                 "finish_reason": finish_reason}]}
            if include_usage:
                data["usage"] = None
            return sse_data(data)

        response = await open_stream(request, headers)
        await response.send(chunk({"role": "assistant", "content": ""}))
        sent_text = False
        async for event in watch.events(c.settings.request_timeout_s):
            kind, data = event["event"], event["data"]
            if kind == "token" and data.get("text"):
                sent_text = True
                await response.send(chunk({"content": data["text"]}))
            elif kind == "done":
                model = data["model"]
                text = data["output"].get("text")
                if text and not sent_text:  # a runtime that answered in one piece
                    await response.send(chunk({"content": text}))
                await response.send(chunk({}, data["finish_reason"] or "stop"))
                if include_usage:
                    await response.send(sse_data({"id": ident, "object": "chat.completion.chunk",
                                                  "created": created, "model": model, "choices": [],
                                                  "usage": openai_usage(data["usage"])}))
            elif kind == "error":
                await response.send(sse_data({"error": {**data, "request_id": data.get("request_id") or watch.gid}}))
        await response.send("data: [DONE]\n\n")
        await response.eof()
        return None


@bp.post("/openai/v1/images/generations")
async def image_generations(request: Request) -> HTTPResponse:
    c, who = container(request), principal(request)
    body = parse(ImageGenerationIn, body_of(request))
    generation = await submit(c, who, image_request(body))
    created = int(time.time())
    async with Watch(c, generation) as watch:
        try:
            data = await outcome(watch, c.settings.request_timeout_s)
        except GatewayError as error:
            return error_response(request, error, request_id=watch.gid)
    output = data["output"]
    images = list(output.get("images") or ())
    artifacts = [a for a in output.get("artifacts") or () if str(a.get("mime_type", "")).startswith("image/")]
    answer = []
    if body.response_format == "url":
        answer += [{"url": f"data:image/png;base64,{b64}"} for b64 in images]
        answer += [{"url": f"{request.scheme}://{request.host}{a['url']}"} for a in artifacts]
    else:
        answer += [{"b64_json": b64} for b64 in images]
        for ref in artifacts:
            stored = c.artifacts.get(ref["id"])
            if stored is not None and stored.owner_id == who.user_id:
                raw = await c.run(stored.path.read_bytes)
                answer.append({"b64_json": base64.b64encode(raw).decode()})
    return json_response({"created": created, "data": answer}, headers={"X-Generation-ID": watch.gid})


@bp.get("/openai/v1/models")
async def list_models(request: Request) -> HTTPResponse:
    c, who = container(request), principal(request)
    models = await catalogue(c, who)
    return json_response({"object": "list", "data": [
        {"id": m["id"], "object": "model", "created": 0,
         "owned_by": "local" if m.get("local") else (m.get("runtime") or "pluggably")} for m in models]})
