"""Build and run the dashboard's aiohttp application."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from pyrmq.admin import AdminClient, AdminError
from pyrmq.dashboard.routes import ADMIN, ALLOW_WRITE, SAMPLER, BadRequest, routes
from pyrmq.dashboard.tps import TpsSampler

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("pyrmq.dashboard")


@web.middleware
async def _errors(request: web.Request,
                  handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                  ) -> web.StreamResponse:
    """Failures become a JSON ``{"error": ...}`` answer and one log line, never a traceback."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except BadRequest as e:
        return web.json_response({"error": str(e)}, status=400)
    except AdminError as e:
        log.info("%s %s: %s", request.method, request.path, e)
        return web.json_response({"error": str(e)}, status=502)
    except asyncio.CancelledError:
        raise
    except Exception as e:  # a bug of ours: say so, keep serving
        log.error("%s %s failed: %r", request.method, request.path, e)
        return web.json_response({"error": f"internal error: {e!r}"}, status=500)


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


def make_app(admin: AdminClient, allow_write: bool = False) -> web.Application:
    """The app over ``admin`` (closed with the app); write endpoints 403 unless allowed."""
    app = web.Application(middlewares=[_errors], client_max_size=64 * 1024)
    app[ADMIN] = admin
    app[ALLOW_WRITE] = allow_write
    app[SAMPLER] = TpsSampler()
    app.add_routes(routes)
    app.router.add_get("/", _index)
    app.router.add_static("/static/", STATIC)

    async def close(_: web.Application) -> None:
        await admin.close()
    app.on_cleanup.append(close)
    return app


def serve(namesrv: str, host: str, port: int, allow_write: bool = False) -> None:
    """Serve the dashboard until interrupted (SIGINT/SIGTERM)."""
    log.info("dashboard on http://%s:%d/ (NameServer %s, %s)", host, port, namesrv,
             "read-write" if allow_write else "read-only")
    web.run_app(make_app(AdminClient(namesrv), allow_write), host=host, port=port,
                print=None, access_log=None, handle_signals=True)
