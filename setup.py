"""Only for the optional C speedups; everything else is in pyproject.toml.

`optional=True`: without a C compiler the build goes on and Mailstead runs on the
pure-Python versions of the same functions (see src/mailstead/_speedups.c).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "mailstead._speedups",
            ["src/mailstead/_speedups.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
