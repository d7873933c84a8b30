"""Testing endpoints of the reference service: arm faults server-wide, read counters."""

from __future__ import annotations

import msgspec
from aiohttp import web

from entrypoints.reference_agent.agent_routes import SERVICE, json_response
from entrypoints.reference_agent.faults import ArmRequest
from entrypoints.reference_agent.problems import from_validation, invalid

_decode_arm = msgspec.json.Decoder(ArmRequest).decode


async def arm_fault(request: web.Request) -> web.Response:
    try:
        arm = _decode_arm(await request.read())
    except msgspec.ValidationError as error:
        raise from_validation(error) from None
    except msgspec.DecodeError:
        raise invalid("body", "expected a JSON object", "invalid_json") from None
    armed = request.app[SERVICE].faults.arm(arm)
    return json_response(armed, 201)


async def list_faults(request: web.Request) -> web.Response:
    return json_response(request.app[SERVICE].faults.armed())


async def disarm_faults(request: web.Request) -> web.Response:
    request.app[SERVICE].faults.disarm()
    return web.Response(status=204)


async def counters(request: web.Request) -> web.Response:
    agent = request.app[SERVICE]
    return json_response(agent.counters.snapshot(len(agent.store)))


async def reset_counters(request: web.Request) -> web.Response:
    request.app[SERVICE].counters.reset()
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/reference/faults", arm_fault)
    app.router.add_get("/reference/faults", list_faults)
    app.router.add_delete("/reference/faults", disarm_faults)
    app.router.add_get("/reference/counters", counters)
    app.router.add_delete("/reference/counters", reset_counters)
