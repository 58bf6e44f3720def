"""``diffusers`` (text to image) and ``shap_e`` (text to 3D) on tiny pipelines built at test time."""

from __future__ import annotations

import asyncio
import io

import pytest

from domain.errors import InvalidRequest, NotFound
from runtimes.base import Progress, Result

from . import collect, make_request


def image_request(model, **parameters):
    return make_request(model, "a red cat on a mat", "image", **parameters)


def mesh_request(model, **parameters):
    return make_request(model, "a small tree", "3d", **parameters)


async def test_image_png_of_the_requested_size(diffusers, tiny_sd):
    from PIL import Image

    chunks = await collect(diffusers, image_request(tiny_sd, width=64, height=48, steps=3, seed=1, n=2))
    progress, result = chunks[:-1], chunks[-1]
    assert progress == [Progress(1, 3), Progress(2, 3), Progress(3, 3)]
    assert isinstance(result, Result) and result.usage.images == 2
    for blob in result.images:
        assert (blob.mime_type, blob.extension) == ("image/png", "png")
        image = Image.open(io.BytesIO(blob.data))
        assert (image.format, image.size) == ("PNG", (64, 48))


async def test_same_seed_same_image_bytes(diffusers, tiny_sd):
    images = [(await collect(diffusers, image_request(tiny_sd, width=32, height=32, steps=2, seed=s)))[-1].images[0]
              for s in (5, 5, 6)]
    assert images[0].data == images[1].data
    assert images[0].data != images[2].data


async def test_image_cancel_stops_within_a_step(diffusers, tiny_sd):
    first = asyncio.Event()

    async def consume():
        async for _ in diffusers.execute(image_request(tiny_sd, width=32, height=32, steps=50, seed=1)):
            first.set()

    task = asyncio.ensure_future(consume())
    await first.wait()
    steps_at_cancel = diffusers.counters["steps"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert diffusers.counters["steps"] - steps_at_cancel <= 2


async def test_image_errors_are_clear(diffusers, tiny_sd, tmp_path):
    with pytest.raises(NotFound, match=str(tmp_path / "none")):
        await collect(diffusers, image_request(tmp_path / "none"))
    with pytest.raises(InvalidRequest, match="multiples of 8"):
        await collect(diffusers, image_request(tiny_sd, width=36, height=32, steps=1))
    with pytest.raises(InvalidRequest, match="steps"):
        await collect(diffusers, image_request(tiny_sd, steps=0))
    with pytest.raises(InvalidRequest, match="model_index.json"):
        await collect(diffusers, image_request(tmp_path))


@pytest.mark.parametrize("fmt, mime", [("glb", "model/gltf-binary"), ("ply", "model/x-ply"), ("obj", "model/obj")])
async def test_mesh_in_each_format(shap_e, tiny_shap_e, fmt, mime):
    import trimesh

    parameters = {"steps": 2, "seed": 3} | ({} if fmt == "glb" else {"format": fmt})  # glb is the default
    chunks = await collect(shap_e, mesh_request(tiny_shap_e, **parameters))
    progress, result = chunks[:-1], chunks[-1]
    assert progress and all(isinstance(p, Progress) for p in progress) and progress[-1].step == progress[-1].total
    assert result.usage.meshes == 1 and len(result.files) == 1
    blob = result.files[0]
    assert (blob.mime_type, blob.extension) == (mime, fmt)
    mesh = trimesh.load(io.BytesIO(blob.data), file_type=fmt, force="mesh")
    assert isinstance(mesh, trimesh.Trimesh) and len(mesh.faces) > 0


async def test_mesh_cancel_stops_within_a_step(shap_e, tiny_shap_e):
    first = asyncio.Event()

    async def consume():
        async for _ in shap_e.execute(mesh_request(tiny_shap_e, steps=40, seed=1)):
            first.set()

    task = asyncio.ensure_future(consume())
    await first.wait()
    steps_at_cancel = shap_e.counters["steps"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert shap_e.counters["steps"] - steps_at_cancel <= 2


async def test_mesh_format_is_checked(shap_e, tiny_shap_e):
    with pytest.raises(InvalidRequest, match="glb, ply, obj"):
        await collect(shap_e, mesh_request(tiny_shap_e, format="stl"))
