"""A fake of Anthropic's Messages API: ``POST {root}/v1/messages`` (``base_url`` is the root, like the SDK's).

It enforces ``x-api-key``, ``anthropic-version``, the required ``model``/``max_tokens``/``messages``, roles
``user``/``assistant`` only (system goes top level), no unknown fields; answers ``Echo: <last user message>`` with
one word a token, streamed as the documented event sequence.

    python -m tests.fakes.anthropic_fake --port 0 --api-key K   # first stdout line: the base URL
"""

from __future__ import annotations

import itertools
from typing import Any

from tests.fakes.provider_base import (
    ProviderFake,
    RecordedRequest,
    Reply,
    StreamReply,
    count_words,
    echo_words,
    main,
    sse,
)

FIELDS = {"model", "max_tokens", "messages", "system", "temperature", "top_p", "top_k", "stop_sequences", "stream",
          "metadata", "tools", "tool_choice", "thinking", "service_tier"}
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
               529: "overloaded_error"}


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(block.get("text", "") for block in content or () if isinstance(block, dict))


class AnthropicFake(ProviderFake):
    def __init__(self, api_key: str = "sk-ant-test", **kwargs: Any) -> None:
        super().__init__(api_key, **kwargs)
        self._ids = itertools.count(1)

    def error_reply(self, status: int, message: str | None) -> Reply:
        kind = ERROR_TYPES.get(status, "api_error")
        return Reply(status, {"type": "error", "error": {"type": kind, "message": message or kind.replace("_", " ")},
                              "request_id": f"req_fake{next(self._ids)}"})

    def stream_error_event(self, message: str) -> str:
        return sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error")

    def _invalid(self, message: str) -> Reply:
        return self.error_reply(400, message)

    def handle(self, request: RecordedRequest) -> Reply | StreamReply:
        if request.path != "/v1/messages":
            return self.error_reply(404, "Not Found")
        if request.method != "POST":
            return self.error_reply(405, f"Method {request.method} not allowed")
        if request.headers.get("x-api-key") != self.api_key:
            return self.error_reply(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return self._invalid("anthropic-version: header is required")
        body = request.body
        if not isinstance(body, dict):
            return self._invalid("There was an issue with your request body: expected a JSON object")
        for key in body:
            if key not in FIELDS:
                return self._invalid(f"{key}: Extra inputs are not permitted")
        for key in ("model", "max_tokens", "messages"):
            if key not in body:
                return self._invalid(f"{key}: Field required")
        if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
            return self._invalid("max_tokens: Input should be a valid integer greater than or equal to 1")
        messages = body["messages"]
        if not isinstance(messages, list) or not messages:
            return self._invalid("messages: at least one message is required")
        for i, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role == "system":
                return self._invalid('messages: Unexpected role "system". The Messages API accepts a top-level '
                                     '`system` parameter, not "system" as an input message role.')
            if role not in ("user", "assistant"):
                return self._invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
            if not isinstance(message.get("content"), (str, list)):
                return self._invalid(f"messages.{i}.content: Field required")
        temperature = body.get("temperature")
        if temperature is not None and not 0 <= temperature <= 1:
            return self._invalid("temperature: range: 0..1")

        prompt = next((text_of(m["content"]) for m in reversed(messages) if m["role"] == "user"), "")
        pieces, finish = echo_words(prompt, body["max_tokens"])
        stop_reason = "end_turn" if finish == "stop" else "max_tokens"
        input_tokens = sum(count_words(text_of(m["content"])) for m in messages) + count_words(
            text_of(body.get("system") or ""))
        ident = f"msg_fake{next(self._ids)}"
        message = {"id": ident, "type": "message", "role": "assistant", "model": body["model"], "content": [],
                   "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
                             "cache_read_input_tokens": 0, "output_tokens": 1}}
        headers = {"request-id": f"req_{ident}"}
        if not body.get("stream"):
            message |= {"content": [{"type": "text", "text": "".join(pieces)}], "stop_reason": stop_reason}
            message["usage"] = message["usage"] | {"output_tokens": len(pieces)}
            return Reply(200, message, headers)
        events = [sse({"type": "message_start", "message": message}, "message_start"),
                  sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                      "content_block_start"),
                  sse({"type": "ping"}, "ping")]
        events += [sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                       "content_block_delta") for piece in pieces]
        events += [sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
                   sse({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                        "usage": {"output_tokens": len(pieces)}}, "message_delta"),
                   sse({"type": "message_stop"}, "message_stop")]
        return StreamReply(events, headers)


if __name__ == "__main__":
    main(AnthropicFake)
