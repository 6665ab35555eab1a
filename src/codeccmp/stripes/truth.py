"""The ground truth of a generated stripe chart: each tile's rectangle and stripe angle.

Why a module of its own: every ``compare`` looks for a chart's truth file beside its image,
and reading it needs none of the stripe analysis (nor SciPy), which a run with ``--roi none``
never loads.
"""

from __future__ import annotations

import json
from pathlib import Path

from codeccmp.errors import UsageError
from codeccmp.stripes.roi import Roi


def load_truth(image_path: str | Path, explicit: str | Path | None = None) -> dict | None:
    """The ground-truth orientation map of a generated chart, if there is one.

    ``samples/make_samples.py`` writes ``stripes.json`` beside ``stripes.png``; any image with
    a sibling JSON of the same stem holding ``tiles`` with ``angle_deg`` is treated as a chart.
    """
    from codeccmp.model.images import STDIN

    if not explicit and str(image_path) == STDIN:
        return None  # an image on standard input has no siblings
    p = Path(explicit) if explicit else Path(image_path).with_suffix(".json")
    if not p.is_file():
        if explicit:
            raise UsageError(f"truth file not found: {p}")
        return None
    try:
        data = json.loads(p.read_text())
        tiles = data["tiles"]
        for t in tiles:
            Roi(int(t["x"]), int(t["y"]), int(t["w"]), int(t["h"]))
            float(t["angle_deg"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if explicit:
            raise UsageError(f"{p} is not a stripe-chart truth file: {exc}") from None
        return None
    data["path"] = str(p)
    return data
