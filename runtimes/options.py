"""What a generation's ``parameters`` may hold: one strict options model per runtime and modality.

A runtime declares ``options = {"text": SomeOptions, ...}`` (models built from the fields below); the gateway checks
a request's parameters against the options of every runtime it may run on, before anything is recorded
(``Runtime.validate``), and stores what the first one made of them. Runtimes then read them as they are.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from domain.errors import InvalidRequest
from domain.validation import Strict, parse


class Options(Strict):
    """Base of the options models. ``model`` in the validation context is the model the request names (what the
    runtime gets as ``GenerationRequest.model``), for checks that depend on it."""

    @classmethod
    def requested_model(cls, info: ValidationInfo) -> str:
        return str((info.context or {}).get("model", ""))


def _stops(value: str | list[str] | None) -> list[str] | None:
    return [value] if isinstance(value, str) else value


def _local_stops(value: list[str] | None) -> list[str] | None:
    if value is not None and (len(value) > 4 or not all(value)):
        raise ValueError("stop must be a non-empty string or a list of at most 4")
    return value


# The fields, each with the widest range any upstream takes; runtimes narrow them where they must.
Temperature = Annotated[float | None, Field(None, ge=0, le=2)]
MaxTokens = Annotated[int | None, Field(None, ge=1, le=1_000_000)]
TopP = Annotated[float | None, Field(None, gt=0, le=1)]
Stop = Annotated[str | list[str] | None, AfterValidator(_stops)]  # kept as a list
Seed = Annotated[int | None, Field(None, ge=0, le=2**63 - 1)]  # what the widest upstream takes (int64)
Width = Annotated[int | None, Field(None, ge=8, le=4096)]
Height = Annotated[int | None, Field(None, ge=8, le=4096)]
Steps = Annotated[int | None, Field(None, ge=1, le=500)]
Guidance = Annotated[float | None, Field(None, ge=0, le=50)]
NegativePrompt = Annotated[str | None, Field(None)]
Count = Annotated[int | None, Field(None, ge=1, le=10)]
MeshFormat = Annotated[str | None, Field(None)]
LocalStop = Annotated[str | list[str] | None, AfterValidator(_stops), AfterValidator(_local_stops)]


class TextOptions(Options):
    temperature: Temperature = None
    max_tokens: MaxTokens = None
    top_p: TopP = None
    stop: Stop = None
    seed: Seed = None


class ImageOptions(Options):
    width: Width = None
    height: Height = None
    steps: Steps = None
    guidance: Guidance = None
    negative_prompt: NegativePrompt = None
    seed: Seed = None
    n: Count = None


MESH_FORMATS = ("glb", "ply", "obj")


class MeshOptions(Options):
    steps: Steps = None
    guidance: Guidance = None
    seed: Seed = None
    format: MeshFormat = None

    @field_validator("format")
    @classmethod
    def known_format(cls, value: str | None) -> str | None:
        if value is not None and value not in MESH_FORMATS:
            raise ValueError(f"format must be one of {', '.join(MESH_FORMATS)}")
        return value


#: The options of a runtime that declares none for a modality it serves.
DEFAULT_OPTIONS: dict[str, type[Options]] = {"text": TextOptions, "image": ImageOptions, "3d": MeshOptions}


def check(
    runtime: str, modality: str, options: type[Options], parameters: dict[str, Any], model: str = ""
) -> dict[str, Any]:
    """``parameters`` checked against ``options``: a 422 that lists the accepted ones for an unknown one, a 422
    that says what to fix for a bad value; the checked values (``None`` dropped) otherwise."""
    accepted = options.model_fields
    unknown = sorted(set(parameters) - set(accepted))
    if unknown:
        raise InvalidRequest(
            f"Unknown parameter(s) {', '.join(unknown)} for {modality} on {runtime}; accepted: "
            f"{', '.join(sorted(accepted))}.",
            param=f"parameters.{unknown[0]}",
            code="unknown_parameter",
        )
    return parse(options, parameters, prefix="parameters", context={"model": model}).model_dump(exclude_none=True)
