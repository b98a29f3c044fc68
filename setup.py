"""Build script: compiles the C storage core (csrc/) and its Cython binding (_ext/) into
``pyrmq._store``, and the frame codec (csrc/src/wire*.c + _ext/wire.pyx) into ``pyrmq._wire``.
A compile error fails the install; there is no pure-Python fallback.

Set ``PYRMQ_DEBUG=1`` for an unoptimised build with debug symbols and assertions.
"""
import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

debug = os.environ.get("PYRMQ_DEBUG") == "1"
cflags = ["-std=c99", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Wno-unused-parameter",
          "-Wno-sign-compare", "-Wno-missing-field-initializers",
          "-Wno-format-truncation"]
cflags += ["-O0", "-g", "-UNDEBUG"] if debug else ["-O2", "-DNDEBUG"]

WIRE_C = ["csrc/src/wire.c", "csrc/src/wire_bin.c"]
store = Extension(
    "pyrmq._store",
    sources=["_ext/store.pyx", *sorted(c for c in glob.glob("csrc/src/*.c") if c not in WIRE_C)],
    include_dirs=["csrc/include"],
    libraries=["z", "pthread"],
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
