"""The ``train`` command alone in a Typer app, as the CLI tests of training drive it."""

from __future__ import annotations

import typer


def train_app() -> typer.Typer:
    """``codeccmp_compressai``'s ``train`` registered on a fresh app, with a second command
    so that ``train`` stays a subcommand as in ``codeccmp`` itself."""
    from codeccmp_compressai.cli_train import register

    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:
        pass

    return app
