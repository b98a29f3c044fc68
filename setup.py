"""Build script: compiles the C storage core (csrc/) and its Cython binding (_ext/) into
``pyrmq._store``, and the frame codec (csrc/src/wire*.c + _ext/wire.pyx) into ``pyrmq._wire``.
A compile error fails the install; there is no pure-Python fallback.

The record CRC32 comes from libdeflate when its header is found (Debian: ``libdeflate-dev``;
linked statically when ``libdeflate.a`` is there, so the wheel needs no extra shared library),
else from zlib, with a warning: same values, ~6x slower on short bodies (docs/design.md).

Set ``PYRMQ_DEBUG=1`` for an unoptimised build with debug symbols and assertions.
"""
import glob
import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

debug = os.environ.get("PYRMQ_DEBUG") == "1"
cflags = ["-std=c99", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Wno-unused-parameter",
          "-Wno-sign-compare", "-Wno-missing-field-initializers",
          "-Wno-format-truncation"]
cflags += ["-O0", "-g", "-UNDEBUG"] if debug else ["-O2", "-DNDEBUG"]



def crc_library() -> dict:
    """Extension arguments of the CRC32 provider: libdeflate if its header is found, else zlib."""
    roots = [os.environ.get("PYRMQ_LIBDEFLATE_PREFIX", ""), sys.prefix, "/usr/local", "/usr"]
    for root in filter(None, roots):
        if not os.path.exists(os.path.join(root, "include", "libdeflate.h")):
            continue
        libdirs = [d for pattern in ("lib*", "lib/*-linux-gnu")
                   for d in sorted(glob.glob(os.path.join(root, pattern))) if os.path.isdir(d)]
        # /usr/include is the compiler's own; naming it would reorder the system headers
        found = dict(include_dirs=[] if root == "/usr" else [os.path.join(root, "include")],
                     define_macros=[("RMQ_HAVE_LIBDEFLATE", None)])
        static = [os.path.join(d, "libdeflate.a") for d in libdirs
                  if os.path.exists(os.path.join(d, "libdeflate.a"))]
        if static:
            return dict(found, extra_objects=static[:1], libraries=[])
        return dict(found, libraries=["deflate"],
                    library_dirs=[] if root == "/usr" else libdirs)
    print("pyrmq: libdeflate.h not found, the record CRC32 falls back to zlib "
          "(install libdeflate-dev for the fast one)", file=sys.stderr)
    return dict(include_dirs=[], libraries=["z"])


CRC = crc_library()
WIRE_C = ["csrc/src/wire.c", "csrc/src/wire_bin.c"]
store = Extension(
    "pyrmq._store",
    sources=["_ext/store.pyx", *sorted(c for c in glob.glob("csrc/src/*.c") if c not in WIRE_C)],
    include_dirs=["csrc/include", *CRC["include_dirs"]],
    libraries=[*CRC["libraries"], "pthread"],
    extra_objects=CRC.get("extra_objects", []),
    library_dirs=CRC.get("library_dirs", []),
    define_macros=CRC.get("define_macros", []),
    extra_compile_args=cflags,
)

wire = Extension(
    "pyrmq._wire",
    sources=["_ext/wire.pyx", *WIRE_C],
    include_dirs=["csrc/include"],
    extra_compile_args=cflags,
)

setup(
    ext_modules=cythonize([store, wire], language_level=3,
                          compiler_directives={"boundscheck": debug, "wraparound": False}),
)
