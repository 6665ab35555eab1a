"""First-party plugin: CompressAI's learned image codecs, through the public plugin API.

Registers one codec per architecture and training metric (``bmshj2018-factorized`` is the
MS-SSIM model, ``bmshj2018-factorized-mse`` the MSE one; likewise for
``bmshj2018-hyperprior``, ``mbt2018``, ``mbt2018-mean``, ``cheng2020-anchor``,
``cheng2020-attn``, ``bls2017`` and ``lee2019``) and the ``models`` and ``train`` commands.

Nothing heavy is imported here or by the hooks: torch and compressai load only when a
learned codec actually resolves weights or codes an image, so ``codeccmp --help`` stays
instant.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

from codeccmp import hookimpl

# compressai 1.2 calls torch.jit.script at import; recent torch warns about it on every run,
# which buries codeccmp's own output. The warning is about compressai's code, not the user's.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated",
                        category=FutureWarning)

if TYPE_CHECKING:
    import typer

    from codeccmp.codec import Codec


@hookimpl
def register_codecs(register: Callable[[Codec], None]) -> None:
    """Register every learned codec (cheap: no torch import until a codec is used)."""
    from codeccmp_compressai.codecs import all_codecs

    for codec in all_codecs():
        register(codec)


@hookimpl
def register_commands(app: typer.Typer) -> None:
    """Add ``codeccmp models list|pull`` and ``codeccmp train``."""
    from codeccmp_compressai import cli_models

    cli_models.register(app)
    from codeccmp_compressai import cli_train

    cli_train.register(app)
