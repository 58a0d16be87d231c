"""Moved to ``workbench.community.demo``, with the rest of the sample company; this old
import path keeps working (``from workbench import demo``)."""

from .community.demo import *  # noqa: F403 - the same names, re-exported
from .community.demo import __all__  # noqa: F401
