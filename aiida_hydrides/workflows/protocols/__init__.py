"""Protocols of the work chains: ``<stage>/<name>.yaml`` beside the module ``workflows/<stage>/<name>.py``."""

from .utils import *  # noqa: F403
from .utils import __all__  # noqa: F401
