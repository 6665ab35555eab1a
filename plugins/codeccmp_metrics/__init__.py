"""First-party metrics: PSNR, PSNR-Y, SSIM, MS-SSIM, the directional Δθ, and the optional
perceptual metrics (``pip install 'codeccmp[perceptual]'``).

They enter through the ``register_metrics`` hook, the same way a third-party metric does.
"""

from __future__ import annotations

from codeccmp import hookimpl


@hookimpl
def register_metrics(register) -> None:  # noqa: ANN001
    # Imported here, not at the top: every start of the CLI loads this module (for the
    # commands hook), and `codeccmp --help` or a shell completion needs no NumPy.
    from codeccmp_metrics.builtin import BUILTIN
    from codeccmp_metrics.perceptual import PERCEPTUAL

    for cls in (*BUILTIN, *PERCEPTUAL):
        register(cls())
