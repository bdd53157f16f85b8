"""The HTTP service (``tiyan serve``): FastAPI over the same core the CLI calls.

This package is the only one that knows HTTP; see :mod:`tiyan.service.app`.
"""

from tiyan.service.app import create_app
from tiyan.service.settings import Settings

__all__ = ["Settings", "create_app"]
