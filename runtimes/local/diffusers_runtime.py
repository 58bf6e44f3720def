"""``diffusers``: text to image with a diffusers pipeline saved in a local folder (Stable Diffusion and kin)."""

from __future__ import annotations

import io
import secrets
import threading
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from domain.errors import InvalidRequest
from runtimes.base import Blob, GenerationRequest, Progress, Result, Usage
from runtimes.local import Emit, LocalRuntime, ModelPool, size_mb
from runtimes.options import NegativePrompt, Options


class DiffusersImageOptions(Options):
    width: int | None = Field(None, ge=8, le=2048)
    height: int | None = Field(None, ge=8, le=2048)
    steps: int | None = Field(None, ge=1, le=200)
    guidance: float | None = Field(None, ge=0, le=30)
    negative_prompt: NegativePrompt = None
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    n: int | None = Field(None, ge=1, le=4)

    @field_validator("width", "height")
    @classmethod
    def multiple_of_8(cls, value: int | None) -> int | None:
        if value is not None and value % 8:
            raise ValueError("width and height must be multiples of 8")
        return value


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".ckpt")


def load_pipeline(path: Path) -> Any:
    """A diffusers pipeline from a local folder (never the hub), in float32 on the CPU."""
    import torch
    from diffusers import DiffusionPipeline

    if not (path / "model_index.json").is_file():
        raise InvalidRequest(f"{path} is not a diffusers pipeline folder (it has no model_index.json)", param="model")
    pipe = DiffusionPipeline.from_pretrained(str(path), local_files_only=True, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generator(seed: int | None) -> Any:
    import torch

    return torch.Generator("cpu").manual_seed(seed if seed is not None else secrets.randbits(63))


class PipelineRuntime(LocalRuntime):
    """A diffusers pipeline saved in a folder: loaded with ``load_pipeline``, released with the garbage collector."""

    location_kind = "dir"
    #: Memory needed beside the weights (activations; Shap-E's mesh extraction grid).
    working_mb: ClassVar[float] = 32

    def estimate_mb(self, path: Path) -> float:
        return size_mb(path, WEIGHT_SUFFIXES) * 1.2 + self.working_mb  # float32 weights, plus the working set

    def load(self, path: Path) -> Any:
        return load_pipeline(path)

    def unload(self, model: Any) -> None:
        import gc

        del model
        gc.collect()


class DiffusersRuntime(PipelineRuntime):
    name = "diffusers"
    options = {"image": DiffusersImageOptions}
    default_setting = "local_image_model_id"

    def generate(
        self, model: Any, request: GenerationRequest, params: dict[str, Any], emit: Emit, cancelled: threading.Event
    ) -> None:
        import torch

        width, height = params.get("width", 512), params.get("height", 512)
        steps = params.get("steps", 30)

        def on_step_end(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            self.counters["steps"] += 1
            emit(Progress(step + 1, getattr(pipe, "_num_timesteps", None) or steps))  # raises once cancelled
            return kwargs

        with torch.inference_mode():
            output = model(
                prompt=request.prompt,
                negative_prompt=params.get("negative_prompt"),
                width=width,
                height=height,
                num_inference_steps=steps,
                guidance_scale=params.get("guidance", 7.5),
                num_images_per_prompt=params.get("n", 1),
                generator=generator(params.get("seed")),
                callback_on_step_end=on_step_end,
                output_type="pil",
            )
        images = tuple(Blob(_png(image), "image/png", "png") for image in output.images)
        emit(Result(images=images, usage=Usage(images=len(images))))


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def create(settings: Any, pool: ModelPool | None = None) -> DiffusersRuntime:
    return DiffusersRuntime(settings, pool)
