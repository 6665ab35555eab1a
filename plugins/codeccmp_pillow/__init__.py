"""First-party plugin: the standard codecs, through Pillow and its format plugins.

Registered through the ``codeccmp`` entry-point group like any third-party plugin, and
using nothing but the public plugin API.
"""

from __future__ import annotations

from collections.abc import Callable

from codeccmp import hookimpl
from codeccmp.codec import Codec


@hookimpl
def register_codecs(register: Callable[[Codec], None]) -> None:
    from codeccmp_pillow.codecs import ALL_CODECS

    for cls in ALL_CODECS:
        register(cls())
