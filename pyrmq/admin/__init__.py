"""The admin API shared by the ``pyrmq`` admin commands and the dashboard: async methods that
talk to a cluster over the remoting protocol and return data (never print)."""

from pyrmq.admin.client import AdminClient, AdminError

__all__ = ["AdminClient", "AdminError"]
