"""`codeccmp train`: placeholder until the training command lands."""

import typer


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app`` (not written yet)."""
