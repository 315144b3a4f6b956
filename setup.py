"""Builds the optional C modules of large imports in place (`make install` runs it).

    .venv/bin/python setup.py build_ext --inplace

- imports.parsers._apple_health reads the quantity samples of Apple Health exports;
- healthdata._copy_encoding encodes prepared record rows for PostgreSQL's binary COPY.

The project runs without them: their Python counterparts, which the tests hold them to, do the same
work more slowly (docs/imports.md). They need a C compiler and Python's headers, nothing else; a
failed build leaves a warning, not an error.
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
        ),
        Extension(
            "healthdata._copy_encoding",
            ["healthdata/_copy_encoding.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
    ],
)
