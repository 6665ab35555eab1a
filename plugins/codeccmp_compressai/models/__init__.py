"""Learned models with no published PyTorch weights, built on CompressAI's layers.

- :class:`Bls2017Model`: Ballé, Laparra & Simoncelli, ICLR 2017 (``bls2017``).
- :class:`Lee2019Model`: Lee, Cho & Beack, ICLR 2019 (``lee2019``).

Both are :class:`compressai.models.CompressionModel` subclasses with the usual
``forward`` / ``compress`` / ``decompress`` / ``from_state_dict`` / ``update`` /
``aux_loss`` API and an int ``downsampling_factor``. Importing this package imports torch
and compressai: do it only where a model is needed.
"""

from __future__ import annotations

from .bls2017 import Bls2017Model
from .lee2019 import Lee2019Model, MeanOffsetGaussianConditional

#: Codec name → model class, for the names this package defines.
MODELS: dict[str, type] = {"bls2017": Bls2017Model, "lee2019": Lee2019Model}

__all__ = ["MODELS", "Bls2017Model", "Lee2019Model", "MeanOffsetGaussianConditional"]
