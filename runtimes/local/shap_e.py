"""``shap_e``: text to 3D with diffusers' ``ShapEPipeline`` from a local folder, exported with trimesh."""

from __future__ import annotations

import threading
from typing import Any

from pydantic import Field

from runtimes.base import Blob, GenerationRequest, Progress, Result, Usage
from runtimes.local import Emit, ModelPool
from runtimes.local.diffusers_runtime import PipelineRuntime, generator
from runtimes.options import MESH_FORMATS, MeshOptions

FORMATS = {"glb": "model/gltf-binary", "ply": "model/x-ply", "obj": "model/obj"}
assert tuple(FORMATS) == MESH_FORMATS


class ShapEMeshOptions(MeshOptions):
    steps: int | None = Field(None, ge=1, le=200)
    seed: int | None = Field(None, ge=0, le=2**63 - 1)


class ShapERuntime(PipelineRuntime):
    name = "shap_e"
    options = {"3d": ShapEMeshOptions}
    default_setting = "local_3d_model_id"
    working_mb = 1024  # mesh extraction queries a 128^3 grid

    def generate(
        self, model: Any, request: GenerationRequest, params: dict[str, Any], emit: Emit, cancelled: threading.Event
    ) -> None:
        import torch

        fmt = params.get("format", "glb")
        step = 0

        def before_step(module: Any, args: Any) -> None:  # the prior runs once per denoising step
            if cancelled.is_set():
                emit(None)  # raises: the request is gone

        def after_step(module: Any, args: Any, output: Any) -> None:
            nonlocal step
            step += 1
            self.counters["steps"] += 1
            emit(Progress(step, len(model.scheduler.timesteps)))

        def before_query(module: Any, args: Any) -> None:  # mesh extraction: one call per batch of grid points
            if cancelled.is_set():
                emit(None)

        hooks = [
            model.prior.register_forward_pre_hook(before_step),
            model.prior.register_forward_hook(after_step),
            model.shap_e_renderer.mlp.register_forward_pre_hook(before_query),
        ]
        try:
            with torch.inference_mode():
                output = model(
                    request.prompt,
                    num_inference_steps=params.get("steps", 64),
                    guidance_scale=params.get("guidance", 15.0),
                    generator=generator(params.get("seed")),
                    output_type="mesh",
                )
        finally:
            for hook in hooks:
                hook.remove()
        data = export_mesh(output.images[0], fmt)
        emit(Result(files=(Blob(data, FORMATS[fmt], fmt),), usage=Usage(meshes=1)))


def export_mesh(decoded: Any, fmt: str) -> bytes:
    """A diffusers ``MeshDecoderOutput`` as ``fmt`` bytes, turned y-up (Shap-E meshes are z-up) with vertex colours."""
    import numpy as np
    import trimesh

    verts = decoded.verts.detach().cpu().numpy()
    faces = decoded.faces.detach().cpu().numpy()
    colours = None
    channels = decoded.vertex_channels or {}
    if all(c in channels for c in "RGB"):
        rgb = np.stack([channels[c].detach().cpu().numpy() for c in "RGB"], axis=1)
        colours = (np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8)
    mesh = trimesh.Trimesh(vertices=verts, faces=faces, vertex_colors=colours, process=False)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    data = mesh.export(file_type=fmt)
    return data.encode() if isinstance(data, str) else data


def create(settings: Any, pool: ModelPool | None = None) -> ShapERuntime:
    return ShapERuntime(settings, pool)
