"""A fake of the Gemini API: ``POST {root}/v1beta/models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse`` (``base_url`` is the root, like ``LLM_API_GOOGLE_BASE_URL``).

It enforces the key (``x-goog-api-key`` header or ``key`` query; a wrong key is the real 400 ``API_KEY_INVALID``),
roles ``user``/``model``, non-empty ``contents``, no unknown fields; answers ``Echo: <last user message>`` with one
word a token and ``usageMetadata``. A model whose name contains ``image`` answers ``responseModalities: ["IMAGE"]``
with an ``inlineData`` PNG. ``:predict`` is Imagen's: an ``imagen-*`` model, ``instances: [{"prompt"}]`` and known
``parameters``, answered with ``predictions: [{"bytesBase64Encoded", "mimeType"}]``; a prompt containing
``forbidden`` is filtered out (no prediction; ``raiFilteredReason`` with ``includeRaiReason``), as the real service
does with unsafe prompts.

    python -m tests.fakes.google_fake --port 0 --api-key K   # first stdout line: the base URL
"""

from __future__ import annotations

import base64
import itertools
import re
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

PATH = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent|predict)$")
PREDICT_PARAMETERS = {"sampleCount", "aspectRatio", "personGeneration", "imageSize", "outputOptions",
                      "includeRaiReason", "includeSafetyAttributes", "safetySetting", "enhancePrompt"}
IMAGEN_RATIOS = {"1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896), "9:16": (768, 1408),
                 "16:9": (1408, 768)}
FIELDS = {"contents", "systemInstruction", "system_instruction", "generationConfig", "generation_config",
          "safetySettings", "safety_settings", "tools", "toolConfig", "tool_config", "cachedContent",
          "cached_content"}
CONFIG_FIELDS = {"temperature", "maxOutputTokens", "topP", "topK", "stopSequences", "seed", "candidateCount",
                 "responseMimeType", "responseSchema", "responseModalities", "imageConfig", "thinkingConfig",
                 "presencePenalty", "frequencyPenalty", "responseLogprobs", "logprobs", "speechConfig"}
STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
            429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def text_of(parts: Any) -> str:
    return " ".join(p.get("text", "") for p in parts or () if isinstance(p, dict))


class GoogleFake(ProviderFake):
    def __init__(self, api_key: str = "google-test-key", **kwargs: Any) -> None:
        super().__init__(api_key, **kwargs)
        self._ids = itertools.count(1)

    def error_reply(self, status: int, message: str | None) -> Reply:
        status_name = STATUSES.get(status, "UNKNOWN")
        return Reply(status, {"error": {"code": status, "message": message or f"Scripted {status_name}.",
                                        "status": status_name}})

    def stream_error_event(self, message: str) -> str:
        return sse({"error": {"code": 503, "message": message, "status": "UNAVAILABLE"}})

    def _invalid(self, message: str) -> Reply:
        return self.error_reply(400, message)

    def handle(self, request: RecordedRequest) -> Reply | StreamReply:
        match = PATH.match(request.path)
        if not match or request.method != "POST":
            return self.error_reply(404, f"The requested URL {request.path} was not found on this server.")
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if not key:
            return self.error_reply(403, "Method doesn't allow unregistered callers (callers without established "
                                    "identity). Please use API Key or other form of API consumer identity to call "
                                    "this API.")
        if key != self.api_key:
            reply = self._invalid("API key not valid. Please pass a valid API key.")
            reply.body["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                               "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                                               "metadata": {"service": "generativelanguage.googleapis.com"}}]
            return reply
        body = request.body
        if not isinstance(body, dict):
            return self._invalid("Invalid JSON payload received.")
        if match["method"] == "predict":
            return self._predict(match["model"], body)
        for field in body:
            if field not in FIELDS:
                return self._invalid(f'Invalid JSON payload received. Unknown name "{field}": Cannot find field.')
        config = body.get("generationConfig") or body.get("generation_config") or {}
        for field in config:
            if field not in CONFIG_FIELDS:
                return self._invalid(f'Invalid JSON payload received. Unknown name "{field}" at '
                                     f"'generation_config': Cannot find field.")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return self._invalid("* GenerateContentRequest.contents: contents is not specified\n")
        for content in contents:
            if not isinstance(content, dict) or content.get("role", "user") not in ("user", "model"):
                return self._invalid("Please use a valid role: user, model.")
            if not content.get("parts"):
                return self._invalid("* GenerateContentRequest.contents.parts: contents.parts must not be empty.\n")
        system = body.get("systemInstruction") or body.get("system_instruction")
        if system is not None and not (isinstance(system, dict) and system.get("parts")):
            return self._invalid("* GenerateContentRequest.system_instruction.parts: must not be empty.\n")

        model, method = match["model"], match["method"]
        prompt = next((text_of(c["parts"]) for c in reversed(contents) if c.get("role", "user") == "user"), "")
        prompt_tokens = sum(count_words(text_of(c["parts"])) for c in contents) + count_words(
            text_of((system or {}).get("parts")))
        modalities = [m.upper() for m in config.get("responseModalities") or ()]
        if "IMAGE" in modalities:
            if "image" not in model:
                return self._invalid("Model does not support the requested response modalities: image")
            return self._image(model, prompt, prompt_tokens, config)

        pieces, finish = echo_words(prompt, config.get("maxOutputTokens"))
        finish_reason = "STOP" if finish == "stop" else "MAX_TOKENS"
        ident = f"fake-{next(self._ids)}"

        def response(text: str, finish: str | None, output_tokens: int) -> dict[str, Any]:
            candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
            if finish:
                candidate["finishReason"] = finish
            return {"candidates": [candidate],
                    "usageMetadata": {"promptTokenCount": prompt_tokens, "candidatesTokenCount": output_tokens,
                                      "totalTokenCount": prompt_tokens + output_tokens},
                    "modelVersion": model, "responseId": ident}

        if method == "generateContent":
            return Reply(200, response("".join(pieces), finish_reason, len(pieces)))
        chunks = [response(piece, finish_reason if i == len(pieces) - 1 else None, i + 1)
                  for i, piece in enumerate(pieces)]
        if request.query.get("alt") != "sse":  # without alt=sse the answer is one JSON array
            return Reply(200, chunks)
        return StreamReply([sse(chunk) for chunk in chunks])

    def _predict(self, model: str, body: dict[str, Any]) -> Reply:
        if not model.startswith("imagen-"):
            return self.error_reply(404, f"models/{model} is not found for API version v1beta, or is not supported "
                                    "for predict. Call ListModels to see the list of available models and their "
                                    "supported methods.")
        for field in body:
            if field not in ("instances", "parameters"):
                return self._invalid(f'Invalid JSON payload received. Unknown name "{field}": Cannot find field.')
        instances, parameters = body.get("instances"), body.get("parameters") or {}
        if not (isinstance(instances, list) and len(instances) == 1 and isinstance(instances[0], dict)
                and isinstance(instances[0].get("prompt"), str) and instances[0]["prompt"]):
            return self._invalid("Image generation needs exactly one instance with a prompt.")
        for field in parameters:
            if field not in PREDICT_PARAMETERS:
                return self._invalid(f'Invalid JSON payload received. Unknown name "{field}" at '
                                     f"'parameters': Cannot find field.")
        count = parameters.get("sampleCount", 4)
        ratio = parameters.get("aspectRatio", "1:1")
        if not (isinstance(count, int) and 1 <= count <= 4) or ratio not in IMAGEN_RATIOS:
            return self._invalid("sampleCount must be 1 to 4 and aspectRatio one of " + ", ".join(IMAGEN_RATIOS))
        prompt = instances[0]["prompt"]
        if "forbidden" in prompt:  # filtered: the reason only when asked for, as the real service does
            if not parameters.get("includeRaiReason"):
                return Reply(200, {})
            return Reply(200, {"predictions": [{"raiFilteredReason": "Your current safety filter threshold "
                                                "filtered out the generated image."}]})
        png = png_bytes(*IMAGEN_RATIOS[ratio], colour_of(prompt))
        encoded = base64.b64encode(png).decode()
        return Reply(200, {"predictions": [{"mimeType": "image/png", "bytesBase64Encoded": encoded}] * count})

    def _image(self, model: str, prompt: str, prompt_tokens: int, config: dict[str, Any]) -> Reply:
        ratio = (config.get("imageConfig") or {}).get("aspectRatio", "1:1")
        w, h = (int(x) for x in ratio.split(":"))
        width, height = (1024, round(1024 * h / w)) if w >= h else (round(1024 * w / h), 1024)
        png = png_bytes(width, height, colour_of(prompt))
        return Reply(200, {"candidates": [{"content": {"parts": [{"inlineData": {
                               "mimeType": "image/png", "data": base64.b64encode(png).decode()}}], "role": "model"},
                           "finishReason": "STOP", "index": 0}],
                           "usageMetadata": {"promptTokenCount": prompt_tokens, "candidatesTokenCount": 1290,
                                             "totalTokenCount": prompt_tokens + 1290},
                           "modelVersion": model, "responseId": f"fake-{next(self._ids)}"})


if __name__ == "__main__":
    main(GoogleFake)
