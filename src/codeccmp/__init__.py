"""codeccmp: compare learned and standard image codecs at the same bitrate.

The names here are the plugin API, what a codec or metric plugin needs (docs/plugins.md):
``hookimpl``, the :class:`Codec` and :class:`Metric` base classes and their companions.
They live in :mod:`codeccmp.codec`, :mod:`codeccmp.metric` and :mod:`codeccmp.errors`,
which import nothing heavy, so importing them costs what ``hookspecs`` already does.
"""

from codeccmp.codec import (
    Codec,
    CodecError,
    CodecUnavailable,
    Encoded,
    OptionSpec,
    Param,
    ParamSpace,
    RunSettings,
)
from codeccmp.errors import UsageError
from codeccmp.hookspecs import hookimpl
from codeccmp.metric import Metric, MetricUnavailable, ValueRange

__version__ = "0.1.0"
__all__ = ["Codec", "CodecError", "CodecUnavailable", "Encoded", "Metric",
           "MetricUnavailable", "OptionSpec", "Param", "ParamSpace", "RunSettings",
           "UsageError", "ValueRange", "hookimpl", "__version__"]
