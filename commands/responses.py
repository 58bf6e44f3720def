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


def error_object(
    code: str, message: str, *, request_id: str | None = None, type_: str = "server_error", param: str | None = None
) -> dict[str, Any]:
    return {"code": code, "message": message, "type": type_, "param": param, "request_id": request_id}


def job_response(job: Any) -> dict[str, Any]:
    """A download job, from its aggregate; ``projections.jobs`` answers the same shape from its rows."""
    return {
        "job_id": str(job.id),
        "model_id": job.model_id,
        "model": job.model,
        "source": job.source,
        "status": job.status,
        "progress_pct": job.progress_pct,
        "bytes_done": job.bytes_done,
        "bytes_total": job.bytes_total,
        "current_file": job.current_file,
        "error": job.error,
        "created_at": job.created_on.isoformat(),
        "updated_at": job.modified_on.isoformat(),
    }
