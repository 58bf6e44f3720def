"""Validation of what callers send, with pydantic: each failure is one ``InvalidRequest`` that says what to fix."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from domain.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """A request model that refuses fields it does not know."""

    model_config = ConfigDict(extra="forbid")


def parse(model: type[M], data: Any, *, prefix: str = "", context: dict[str, Any] | None = None) -> M:
    """``data`` as ``model``; ``prefix`` names where it sits in the request (``parameters``)."""
    if not isinstance(data, dict):
        raise InvalidRequest(f"The {prefix or 'request body'} must be a JSON object.", param=prefix or None)
    try:
        return model.model_validate(data, context=context)
    except ValidationError as error:
        problems = []
        first = None
        for item in error.errors():
            loc = ".".join(str(p) for p in ((prefix,) if prefix else ()) + tuple(item["loc"]))
            first = first or loc or None
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                message = "unknown field"
            problems.append(f"{loc}: {message}" if loc else message)
        raise InvalidRequest("Invalid request: " + "; ".join(problems) + ".", param=first) from None
