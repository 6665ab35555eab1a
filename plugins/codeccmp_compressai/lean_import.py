"""Import compressai without torch_geometric, which only its point-cloud code uses.

``import compressai`` imports everything it has, point clouds included: torch_geometric
(with torch._dynamo behind it) costs about 0.4 s of the 1.8 s the import takes on the
development machine, on every command that runs a learned codec, for code no image codec
touches. While compressai imports, ``without_torch_geometric`` puts small stand-in modules
under the four torch_geometric names compressai's import-time code reads (base classes, a
decorator, a registry it copies); afterwards it takes them out of ``sys.modules`` again, so
a later ``import torch_geometric`` anywhere gets the real package.

What changes: in this process compressai's point-cloud transforms are built on the
stand-ins (using one raises, naming the way out) and its transform registry lacks
torch_geometric's transforms. Nothing else does. ``CODECCMP_FULL_COMPRESSAI_IMPORT=1``
imports compressai as it is; so does any process that imported torch_geometric first, and
``zoo.import_compressai`` falls back to the full import if the lean one fails (a compressai
release that reads more of torch_geometric at import time).
"""

from __future__ import annotations

import contextlib
import os
import sys
import types
from collections.abc import Iterator
from typing import Any

#: Set to 1 to import compressai with torch_geometric, as compressai itself does.
FULL_IMPORT_ENV = "CODECCMP_FULL_COMPRESSAI_IMPORT"

_NAMES = ("torch_geometric", "torch_geometric.data", "torch_geometric.data.datapipes",
          "torch_geometric.transforms")


class _Absent:
    """Stands in for a torch_geometric class compressai subclasses at import time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise ImportError(
            "compressai's point-cloud code needs torch_geometric, which codeccmp leaves out "
            f"when it imports compressai; set {FULL_IMPORT_ENV}=1 to import it"
        )


def _functional_transform(name: str) -> Any:
    """torch_geometric's registering decorator, registering nothing."""
    return lambda cls: cls


def lean_import_possible() -> bool:
    """Whether a lean import is wanted and still possible in this process."""
    if os.environ.get(FULL_IMPORT_ENV, "").strip() not in ("", "0"):
        return False
    return not any(n in sys.modules for n in _NAMES) and "compressai" not in sys.modules


def _stand_in(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name, "codeccmp's stand-in: see codeccmp_compressai.lean_import")
    module.__path__ = []  # a package, so its submodule names resolve to the stand-ins
    module.__dict__.update(attrs)
    return module


@contextlib.contextmanager
def without_torch_geometric() -> Iterator[None]:
    """Stand-ins for torch_geometric while the block runs; the real package afterwards."""
    transforms = _stand_in("torch_geometric.transforms",
                           BaseTransform=type("BaseTransform", (_Absent,), {}),
                           Center=type("Center", (_Absent,), {}))
    datapipes = _stand_in("torch_geometric.data.datapipes",
                          functional_transform=_functional_transform)
    data = _stand_in("torch_geometric.data", Data=type("Data", (_Absent,), {}),
                     datapipes=datapipes)
    root = _stand_in("torch_geometric", data=data, transforms=transforms)
    stand_ins = dict(zip(_NAMES, (root, data, datapipes, transforms), strict=True))
    sys.modules.update(stand_ins)
    try:
        yield
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def forget(package: str) -> None:
    """Drop a half-imported ``package`` and its submodules, so it can be imported again."""
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]
