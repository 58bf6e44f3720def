"""Health, readiness and metrics: no API key needed."""

from __future__ import annotations

import asyncio
import contextlib

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw
from sanic.response import json as json_response

from api.request import services
from infra import metrics

bp = Blueprint("system")


@bp.get("/health")
async def health(request: Request) -> HTTPResponse:
    return json_response({"status": "ok"})


@bp.get("/ready")
async def ready(request: Request) -> HTTPResponse:
    report = await services(request).health.report()
    parked = {"parked": report["parked"]} if report["parked"] else {}
    if report["down"]:
        return json_response({"status": "not_ready", "down": report["down"], **parked}, status=503)
    return json_response({"status": "ready", **parked})


@bp.get("/metrics")
async def metrics_route(request: Request) -> HTTPResponse:
    with contextlib.suppress(Exception):  # a bus or database outage must not break the scrape (see /ready)
        await asyncio.wait_for(services(request).health.observe(), 3.0)
    return raw(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")
