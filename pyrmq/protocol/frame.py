"""Frame codec: bytes in, :class:`RemotingCommand` out, and back. No I/O.

``FrameDecoder.feed(data)`` accepts any chunking and returns the complete commands it now holds.
Lengths are checked on the 8-byte prefix before anything is buffered for the frame, so a hostile
length costs nothing. The buffer is compacted lazily so a long stream stays O(bytes read).

One interface, two implementations: the compiled one (``pyrmq._wire``: a C scanner and writer
for the usual JSON header, csrc/src/wire.c) is chosen at import; the pure-Python reference
(:mod:`pyrmq.protocol.frame_py`) stays importable here as :class:`PyFrameDecoder` and
:func:`encode_py`. The compiled codec hands every header outside the usual shape (and every
binary header) to the reference's functions, so what is accepted or refused, and how, is the
reference's decision. The test suite fails if the compiled codec did not load.
"""

from __future__ import annotations

from .frame_py import DEFAULT_MAX_FRAME, PyFrameDecoder, encode_py

try:
    from pyrmq._wire import FrameDecoder, encode
    COMPILED = True
except ImportError:  # a source checkout without the build: the reference (tests refuse this)
    FrameDecoder = PyFrameDecoder  # type: ignore[misc,assignment]
    encode = encode_py
    COMPILED = False

__all__ = ["COMPILED", "DEFAULT_MAX_FRAME", "FrameDecoder", "PyFrameDecoder", "encode",
           "encode_py"]
