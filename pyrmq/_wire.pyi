"""Type stubs for the compiled frame codec (``_ext/wire.pyx``); the reference with the same
interface is :mod:`pyrmq.protocol.frame_py`."""

from pyrmq.protocol.command import RemotingCommand

class FrameDecoder:
    """Incremental decoder; poisoned after a fatal ``RemoteProtocolError``."""

    max_frame: int
    def __init__(self, max_frame: int = ...) -> None: ...
    @property
    def buffered(self) -> int: ...
    def feed(self, data: bytes | bytearray | memoryview) -> list[RemotingCommand]: ...

def encode(cmd: RemotingCommand, max_frame: int = ...) -> bytes: ...
