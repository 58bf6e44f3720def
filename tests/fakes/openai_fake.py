"""A fake of the OpenAI REST API, also serving the Azure OpenAI paths (and standing in for xAI).

OpenAI / xAI: ``{root}/v1/chat/completions``, ``/v1/images/generations``, ``/v1/models`` with
``Authorization: Bearer <key>``; ``base_url`` is ``{root}/v1`` like the SDK's. Azure: ``{root}/openai/deployments/
{deployment}/chat/completions|images/generations?api-version=...`` with an ``api-key`` header; ``azure_endpoint``
is ``{root}``. It enforces what the real APIs enforce (keys, required fields, unknown arguments, ``api-version``)
and answers ``Echo: <last user message>`` with one word a token.

    python -m tests.fakes.openai_fake --port 0 --api-key sk-test   # first stdout line: the base URL (…/v1)
"""

from __future__ import annotations

import base64
import itertools
import re
import time
from typing import Any

from tests.fakes.provider_base import (
    ProviderFake,
    RecordedRequest,
    Reply,
    StreamReply,
    colour_of,
    count_words,
    echo_words,
    main,
    png_bytes,
    sse,
)

CHAT_FIELDS = {"model", "messages", "temperature", "top_p", "n", "stream", "stream_options", "stop", "max_tokens",
               "max_completion_tokens", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs",
               "top_logprobs", "user", "seed", "tools", "tool_choice", "parallel_tool_calls", "response_format",
               "reasoning_effort", "service_tier", "store", "metadata", "modalities", "prediction", "audio"}
IMAGE_FIELDS = {"model", "prompt", "n", "size", "quality", "style", "response_format", "user", "background",
                "moderation", "output_format", "output_compression"}
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
AZURE_PATH = re.compile(r"^/openai/deployments/(?P<deployment>[^/]+)/(?P<operation>chat/completions|"
                        r"images/generations)$")
API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "invalid_request_error",
         404: "invalid_request_error", 429: "rate_limit_error"}


class OpenAIFake(ProviderFake):
    base_path = "/v1"

    def __init__(self, api_key: str = "sk-test", *, deployments: set[str] | None = None, **kwargs: Any) -> None:
        super().__init__(api_key, **kwargs)
        self.deployments = deployments  # Azure: None accepts any deployment name
        self._ids = itertools.count(1)

    @property
    def azure_endpoint(self) -> str:
        return self.root_url

    # -- errors ------------------------------------------------------------------------------------------------

    def error_reply(self, status: int, message: str | None) -> Reply:
        message = message or ("Rate limit reached for requests." if status == 429 else
                              "The server had an error while processing your request." if status >= 500 else
                              f"Scripted error {status}.")
        return Reply(status, {"error": {"message": message, "type": TYPES.get(status, "server_error"),
                                        "param": None, "code": None}})

    def rate_limit_headers(self, retry_after: float | None) -> dict[str, str]:
        headers = super().rate_limit_headers(retry_after)
        if retry_after is not None:
            headers["retry-after-ms"] = str(int(retry_after * 1000))
            headers["retry-after"] = str(max(1, round(retry_after)))  # the real header is whole seconds
        return headers

    def stream_error_event(self, message: str) -> str:
        return sse({"error": {"message": message, "type": "server_error", "param": None, "code": None}})

    def _invalid(self, message: str, param: str | None = None, code: str | None = None) -> Reply:
        return Reply(400, {"error": {"message": message, "type": "invalid_request_error", "param": param,
                                     "code": code}})

    # -- routing -----------------------------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> Reply | StreamReply:
        match = AZURE_PATH.match(request.path)
        if match:
            return self._azure(request, match["deployment"], match["operation"])
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return Reply(401, {"error": {"message": "You didn't provide an API key. You need to provide your API "
                                         "key in an Authorization header using Bearer auth.",
                                         "type": "invalid_request_error", "param": None, "code": None}})
        if auth.removeprefix("Bearer ") != self.api_key:
            key = auth.removeprefix("Bearer ")
            return Reply(401, {"error": {"message": f"Incorrect API key provided: {key[:3]}***{key[-2:]}. You can "
                                         "find your API key at https://platform.openai.com/account/api-keys.",
                                         "type": "invalid_request_error", "param": None,
                                         "code": "invalid_api_key"}})
        if request.path == "/v1/models" and request.method == "GET":
            return Reply(200, {"object": "list", "data": [
                {"id": model, "object": "model", "created": 1700000000, "owned_by": "fake"}
                for model in ("gpt-4o-mini", "gpt-4o", "dall-e-3", "gpt-image-1")]})
        if request.method == "POST" and request.path == "/v1/chat/completions":
            return self._chat(request, model_required=True, model=None)
        if request.method == "POST" and request.path == "/v1/images/generations":
            return self._images(request, model=None)
        return Reply(404, {"error": {"message": f"Invalid URL ({request.method} {request.path})",
                                     "type": "invalid_request_error", "param": None, "code": None}})

    def _azure(self, request: RecordedRequest, deployment: str, operation: str) -> Reply | StreamReply:
        if request.headers.get("api-key") != self.api_key:
            return Reply(401, {"error": {"code": "401", "message": "Access denied due to invalid subscription key "
                                         "or wrong API endpoint. Make sure to provide a valid key for an active "
                                         "subscription and use a correct regional API endpoint for your "
                                         "resource."}})
        version = request.query.get("api-version")
        if not version:
            return Reply(404, {"error": {"code": "404", "message": "Resource not found"}})
        if not API_VERSION.match(version):
            return Reply(400, {"error": {"code": "BadRequest", "message": "API version not supported"}})
        if self.deployments is not None and deployment not in self.deployments:
            return Reply(404, {"error": {"code": "DeploymentNotFound", "message": "The API deployment for this "
                                         "resource does not exist. If you created the deployment within the last "
                                         "5 minutes, please wait a moment and try again."}})
        if operation == "chat/completions":
            return self._chat(request, model_required=False, model=deployment)
        return self._images(request, model=deployment)

    # -- chat --------------------------------------------------------------------------------------------------

    def _chat(self, request: RecordedRequest, *, model_required: bool, model: str | None) -> Reply | StreamReply:
        body = request.body
        if not isinstance(body, dict):
            return self._invalid("We could not parse the JSON body of your request.")
        for key in body:
            if key not in CHAT_FIELDS:
                return self._invalid(f"Unrecognized request argument supplied: {key}")
        model = model or body.get("model")
        if model_required and not isinstance(body.get("model"), str):
            return self._invalid("you must provide a model parameter", "model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._invalid("[] is too short - 'messages'", "messages", "empty_array")
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ROLES:
                return self._invalid(f"Invalid value for 'messages[{i}].role'.", f"messages[{i}].role")
            if not isinstance(message.get("content"), (str, list)):
                return self._invalid(f"Missing required parameter: 'messages[{i}].content'.",
                                     f"messages[{i}].content")
        if "max_tokens" in body and "max_completion_tokens" in body:
            return self._invalid("max_tokens and max_completion_tokens cannot both be set.", "max_tokens")
        temperature = body.get("temperature")
        if temperature is not None and not (0 <= temperature <= 2):
            return self._invalid(f"Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but "
                                 f"got {temperature} instead.", "temperature", "decimal_above_max_value")
        stream = body.get("stream") is True
        if "stream_options" in body and not stream:
            return self._invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                                 "stream_options")
        prompt = next((m["content"] for m in reversed(messages) if m.get("role") == "user"
                       and isinstance(m.get("content"), str)), "")
        pieces, finish = echo_words(prompt, body.get("max_completion_tokens") or body.get("max_tokens"))
        usage = {"prompt_tokens": sum(count_words(m["content"]) for m in messages if isinstance(m["content"], str)),
                 "completion_tokens": len(pieces)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        ident, created = f"chatcmpl-fake{next(self._ids)}", int(time.time())
        if not stream:
            return Reply(200, {"id": ident, "object": "chat.completion", "created": created, "model": model,
                               "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(pieces),
                                                                     "refusal": None},
                                            "logprobs": None, "finish_reason": finish}],
                               "usage": usage, "system_fingerprint": "fp_fake"}, {"x-request-id": ident})
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish_reason: str | None) -> str:
            data: dict[str, Any] = {"id": ident, "object": "chat.completion.chunk", "created": created,
                                    "model": model, "system_fingerprint": "fp_fake",
                                    "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                 "finish_reason": finish_reason}]}
            if include_usage:
                data["usage"] = None
            return sse(data)

        events = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
        events += [chunk({"content": piece}, None) for piece in pieces]
        events.append(chunk({}, finish))
        if include_usage:
            events.append(sse({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                               "system_fingerprint": "fp_fake", "choices": [], "usage": usage}))
        events.append(sse("[DONE]"))
        return StreamReply(events, {"x-request-id": ident})

    # -- images ------------------------------------------------------------------------------------------------

    def _images(self, request: RecordedRequest, *, model: str | None) -> Reply:
        body = request.body
        if not isinstance(body, dict):
            return self._invalid("We could not parse the JSON body of your request.")
        for key in body:
            if key not in IMAGE_FIELDS:
                return self._invalid(f"Unrecognized request argument supplied: {key}")
        model = model or body.get("model") or "dall-e-2"
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            return self._invalid("Missing required parameter: 'prompt'.", "prompt")
        n = body.get("n", 1)
        if not isinstance(n, int) or not 1 <= n <= 10:
            return self._invalid(f"Invalid 'n': expected an integer between 1 and 10, got {n}.", "n")
        size = body.get("size", "1024x1024")
        match = re.fullmatch(r"(\d+)x(\d+)", size) if size != "auto" else re.fullmatch(r"(\d+)x(\d+)", "1024x1024")
        if not match:
            return self._invalid(f"Invalid value: '{size}'. Supported values are: '256x256', '512x512', "
                                 "'1024x1024', '1024x1792' and '1792x1024'.", "size")
        response_format = body.get("response_format")
        if model.startswith("gpt-image") and response_format is not None:
            return self._invalid("Unknown parameter: 'response_format'.", "response_format", "unknown_parameter")
        if response_format not in (None, "url", "b64_json"):
            return self._invalid(f"Invalid value: '{response_format}'. Supported values are: 'url' and "
                                 "'b64_json'.", "response_format")
        width, height = int(match[1]), int(match[2])
        data = []
        for i in range(n):
            if response_format == "b64_json" or model.startswith("gpt-image"):
                png = png_bytes(width, height, colour_of(f"{prompt}#{i}"))
                data.append({"b64_json": base64.b64encode(png).decode(), "revised_prompt": prompt})
            else:
                data.append({"url": f"{self.root_url}/__fake__/image.png?prompt={i}", "revised_prompt": prompt})
        return Reply(200, {"created": int(time.time()), "data": data})


XAIFake = OpenAIFake  # xAI speaks the OpenAI wire format at {root}/v1


if __name__ == "__main__":
    main(OpenAIFake)
