"""The web dashboard: an aiohttp app whose JSON endpoints (/api/...) call the shared admin API
(pyrmq.admin) and whose static pages (static/) render them. Read-only unless allow_write."""

from pyrmq.dashboard.app import make_app, serve

__all__ = ["make_app", "serve"]
