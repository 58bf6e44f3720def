"""OpenAI's wire format: the request bodies (strict), their translation into our ``Generate``, and the answers
(chat completions, their stream chunks, image generations, the model list) built from ours.

Errors keep our error shape, whose ``error.message``, ``type``, ``param`` and ``code`` are what the OpenAI SDKs
read.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from api.schemas import GenerateIn, parse
from domain.errors import InvalidRequest
from domain.validation import Strict
from services.generation import Generate

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

    @property
    def include_usage(self) -> bool:
        return bool(self.stream and self.stream_options and self.stream_options.include_usage)

    def order(self) -> Generate:
        """Ours, checked as ``/v1/generate`` checks it."""
        if self.n not in (None, 1):
            raise InvalidRequest("Only n=1 is supported.", param="n")
        if self.stream_options is not None and not self.stream:
            raise InvalidRequest("stream_options is only allowed with stream: true.", param="stream_options")
        if self.max_tokens is not None and self.max_completion_tokens is not None:
            raise InvalidRequest("Give max_tokens or max_completion_tokens, not both.", param="max_tokens")
        messages = []
        for m in self.messages:
            text = m.content if isinstance(m.content, str) else "".join(part.text for part in m.content)
            messages.append({"role": "system" if m.role == "developer" else m.role, "content": text})
        parameters = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": self.stop,
            "seed": self.seed,
            "max_tokens": self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens,
        }
        return parse(
            GenerateIn,
            {
                "modality": "text",
                "model": self.model,
                "input": {"messages": messages},
                "parameters": {k: v for k, v in parameters.items() if v is not None},
                "stream": bool(self.stream),
            },
        ).order()


class ImageGenerationIn(Strict):
    model: str | None = None
    prompt: str
    n: int | None = None
    size: str | None = None
    response_format: Literal["b64_json", "url"] | None = None
    user: str | None = None

    def order(self) -> Generate:
        parameters: dict[str, Any] = {}
        if self.n is not None:
            parameters["n"] = self.n
        if self.size is not None and self.size != "auto":
            width, x, height = self.size.lower().partition("x")
            if not (x and width.isdigit() and height.isdigit()):
                raise InvalidRequest(SIZE_HINT, param="size")
            parameters["width"], parameters["height"] = int(width), int(height)
        request: dict[str, Any] = {"modality": "image", "input": {"prompt": self.prompt}, "parameters": parameters}
        if self.model is not None:
            request["model"] = self.model
        return parse(GenerateIn, request).order()


def usage(ours: dict[str, Any]) -> dict[str, int]:
    prompt, completion = int(ours.get("input_tokens") or 0), int(ours.get("output_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def chat_completion(ident: str, created: int, answer: dict[str, Any]) -> dict[str, Any]:
    """``chat.completion`` from our answer (``done``'s data)."""
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": answer["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer["output"].get("text") or ""},
                "finish_reason": answer["finish_reason"] or "stop",
            }
        ],
        "usage": usage(answer["usage"]),
    }


class Chunks:
    """The ``chat.completion.chunk`` objects of one streamed answer."""

    def __init__(self, ident: str, created: int, model: str, include_usage: bool) -> None:
        self.ident, self.created, self.model, self.include_usage = ident, created, model, include_usage

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.ident,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
        if self.include_usage:
            data["usage"] = None
        return data

    def usage(self, ours: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.ident,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage(ours),
        }


def model_list(models: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {
                "id": m["id"],
                "object": "model",
                "created": 0,
                "owned_by": "local" if m.get("local") else (m.get("runtime") or "pluggably"),
            }
            for m in models
        ],
    }
