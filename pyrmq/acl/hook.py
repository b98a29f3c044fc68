"""The remoting ``before`` hook a broker installs when ``aclEnable``: a refused request is
answered NO_PERMISSION with 4.9's reason as the remark."""

from __future__ import annotations

from pyrmq.acl.validator import check
from pyrmq.acl.watch import AclFile
from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.command import RemotingCommand
from pyrmq.remoting.connection import BeforeHook, Connection


def acl_hook(acl: AclFile) -> BeforeHook:
    """A hook checking every request against ``acl`` (its file re-read when it changes)."""

    def before(conn: Connection, cmd: RemotingCommand) -> RemotingCommand | None:
        ip = conn.remote_addr.rpartition(":")[0] or conn.remote_addr
        why = check(acl.current(), cmd, ip.strip("[]"))
        return None if why is None else cmd.response(ResponseCode.NO_PERMISSION, why)

    return before
