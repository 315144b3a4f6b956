"""Builds the optional C reader of Apple Health exports in place (`make install` runs it).

    .venv/bin/python setup.py build_ext --inplace

The project runs without it: imports.parsers.apple_health reads every export in Python when the
module is missing, only more slowly (docs/imports.md). It needs a C compiler and Python's headers,
nothing else; a failed build leaves a warning, not an error.
"""

from setuptools import Extension, setup

setup(
    packages=[],
    py_modules=[],
    ext_modules=[
        Extension(
            "imports.parsers._apple_health",
            ["imports/parsers/_apple_health.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ],
)
