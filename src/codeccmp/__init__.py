"""codeccmp: compare learned and standard image codecs at the same bitrate."""

from codeccmp.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__"]
