"""The edge's checks of every JSON body (``domain.validation.check_json``) and the strict request types."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.schemas import GenerateIn
from domain.errors import InvalidRequest, InvalidText, TooDeep
from domain.validation import check_json, clean_text, parse
from runtimes.options import TextOptions, check


def checked(value: Any, max_depth: int = 64) -> None:
    check_json(value, json.dumps(value).encode(), max_depth)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"title": "a\u0000b"}, "title"),
        ({"input": {"prompt": "x\ud800"}}, "input.prompt"),
        ({"input": {"messages": [{"role": "user", "content": "ok"}, {"role": "user", "content": "\udfff"}]}},
         "input.messages[1].content"),
        ({"parameters": {"stop": ["fine", "\u0000"]}}, "parameters.stop[1]"),
        ({"a\u0000": 1}, "a\u0000"),
    ],
)
def test_text_no_store_can_hold_is_refused_naming_the_field(value: Any, field: str) -> None:
    with pytest.raises(InvalidText) as raised:
        checked(value)
    assert raised.value.param == field and raised.value.code == "invalid_text"


def test_valid_text_passes_escaped_or_not() -> None:
    for value in ({"prompt": "emoji \U0001f600 and \u00e9"}, {"prompt": "a backslash then u0000: \\u0000"}):
        checked(value)  # json.dumps escapes the emoji as a surrogate pair: the walk runs and finds it valid
        check_json(value, json.dumps(value, ensure_ascii=False).encode(), 64)


def test_depth_is_bounded_whatever_the_depth() -> None:
    deep: Any = "leaf"
    for _ in range(100_000):  # far past the recursion limit: the walk is iterative
        deep = [deep]
    with pytest.raises(TooDeep):
        check_json(deep, b"[" * 100_000, 64)
    checked({"a": [[[[{"b": 1}]]]]}, max_depth=6)
    with pytest.raises(TooDeep):
        checked({"a": [[[[{"b": 1}]]]]}, max_depth=5)
    many_but_flat = {"messages": [{"role": "user", "content": str(i)} for i in range(500)]}
    checked(many_but_flat, max_depth=3)


def test_clean_text_makes_output_storable() -> None:
    assert clean_text("plain") == "plain"
    assert clean_text("a\u0000b\ud800c\U0001f600") == "a\ufffdb\ufffdc\U0001f600"


@pytest.mark.parametrize(
    "body",
    [
        {"input": {"prompt": "x"}, "stream": "yes"},
        {"input": {"prompt": "x"}, "stream": 1},
        {"input": {"prompt": 5}},
        {"input": {"prompt": "x"}, "model": 7},
    ],
)
def test_no_coercion_on_the_native_api(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        parse(GenerateIn, body)


@pytest.mark.parametrize(
    "parameters",
    [{"max_tokens": "100"}, {"temperature": "0.5"}, {"max_tokens": 10.0}, {"seed": 2**70}, {"seed": -1},
     {"stop": 3}],
)
def test_parameters_are_strict_and_bounded(parameters: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        check("openai", "text", TextOptions, parameters)


def test_numbers_in_range_pass() -> None:
    assert check("openai", "text", TextOptions, {"max_tokens": 100, "temperature": 1, "seed": 2**63 - 1}) == {
        "max_tokens": 100, "temperature": 1.0, "seed": 2**63 - 1}


def test_model_names_are_bounded() -> None:
    with pytest.raises(InvalidRequest, match="256"):
        parse(GenerateIn, {"input": {"prompt": "x"}, "model": "openai:" + "m" * 100_000})
    with pytest.raises(InvalidRequest, match="at most 8"):
        parse(GenerateIn, {"input": {"prompt": "x"}, "model": ["openai:a"] * 9})
