"""The ``codeccmp`` command line: parse, call the pipeline, render. Nothing else lives here."""

from codeccmp.cli.app import main

__all__ = ["main"]
