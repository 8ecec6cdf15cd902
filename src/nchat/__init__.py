"""nchat: a self-hosted team chat server on PostgreSQL."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nchat")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
