"""Validation of what callers send, with pydantic: each failure is one ``InvalidRequest`` that says what to fix.

And the checks every JSON body gets once, at the edge, before any model sees it (``check_json``): no text that the
stores cannot hold or the upstreams cannot take (NUL, lone UTF-16 surrogates: refused with a 400 that names the
field), no nesting deeper than the limit. ``clean_text`` is the same rule for text the gateway did not get from a
caller (a model's output): stored safely instead of refused.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from domain.errors import InvalidRequest, InvalidText, TooDeep

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """A request model that refuses fields it does not know, and values of the wrong JSON type: no string becomes
    a number or a boolean (``"100"``, ``"yes"``), no float an integer."""

    model_config = ConfigDict(extra="forbid", strict=True)


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


# -- the edge: text and depth ---------------------------------------------------------------------------------

#: What a JSON text must contain for a string of it to hold NUL or a surrogate: the escapes ``\u0000`` and
#: ``\ud800``..``\udfff`` (a raw NUL is not JSON, raw surrogates are not UTF-8). Checked on the bytes, in C.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
#: NUL, and surrogates that are not half of a pair (Python keeps a decoded pair as one character).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def check_json(value: Any, raw: bytes, max_depth: int) -> None:
    """Refuse a parsed JSON body whose strings hold NUL or a lone surrogate (``InvalidText``, naming the field) or
    that nests deeper than ``max_depth`` (``TooDeep``). Nearly every body is cleared by two byte counts and one
    byte search; only a suspect one is walked (iteratively: any depth)."""
    if raw.count(b"{") + raw.count(b"[") <= max_depth and _SUSPECT_ESCAPE.search(raw) is None:
        return
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            if depth > max_depth:
                raise TooDeep(f"The JSON body nests deeper than {max_depth} levels (at {path or 'the top'}).")
            for key, item in node.items():
                where = f"{path}.{key}" if path else str(key)
                _check_text(key, where)
                if isinstance(item, (dict, list)):
                    stack.append((item, depth + 1, where))
                elif isinstance(item, str):
                    _check_text(item, where)
        elif isinstance(node, list):
            if depth > max_depth:
                raise TooDeep(f"The JSON body nests deeper than {max_depth} levels (at {path or 'the top'}).")
            for index, item in enumerate(node):
                where = f"{path}[{index}]"
                if isinstance(item, (dict, list)):
                    stack.append((item, depth + 1, where))
                elif isinstance(item, str):
                    _check_text(item, where)
        elif isinstance(node, str):
            _check_text(node, path)


def _check_text(text: str, where: str) -> None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return
    what = "a NUL character (\\u0000)" if found.group() == "\x00" else "a lone UTF-16 surrogate"
    raise InvalidText(
        f"{where or 'The body'} contains {what}, which text cannot hold: remove it (or send valid Unicode).",
        param=where or None,
    )


def clean_text(text: str) -> str:
    """Text from elsewhere (a model's output) made storable: NUL and lone surrogates become U+FFFD."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub(REPLACEMENT, text)
