"""skyctl: serve LLMs across clouds at the lowest cost."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("skyctl")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+src"
