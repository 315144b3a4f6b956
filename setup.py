"""Builds the optional C modules of large imports in place (`make install` runs it).

    .venv/bin/python setup.py build_ext --inplace

- imports.parsers._apple_health reads the quantity samples of Apple Health exports;
- healthdata._rows prepares quantity samples and encodes record rows for PostgreSQL's COPY.

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
            "healthdata._rows",
            ["healthdata/_rows.c"],
            # Values are converted as Python converts them: a product and a sum, each rounded.
            extra_compile_args=["-O2", "-ffp-contract=off"],
            optional=True,
        ),
    ],
)
