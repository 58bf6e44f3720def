"""The answer to a generation, the same JSON for ``/v1/generate``, the SSE ``done`` event and replays."""

from __future__ import annotations

from typing import Any


def generation_response(generation_id: str, modality: str, result: dict[str, Any]) -> dict[str, Any]:
    return {
        "request_id": generation_id,
        "model": result["model"],
        "modality": modality,
        "output": result["output"],
        "usage": result["usage"],
        "finish_reason": result["finish_reason"],
    }


def error_object(code: str, message: str, *, request_id: str | None = None, type_: str = "server_error",
                 param: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "type": type_, "param": param, "request_id": request_id}
