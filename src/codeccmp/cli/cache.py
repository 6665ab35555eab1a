"""`codeccmp cache info|clear|trim`: what the result cache holds, emptying it, its limit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codeccmp.cli.app import app

cache_app = typer.Typer(
    name="cache", no_args_is_help=True, add_completion=False, rich_markup_mode=None,
    help="Inspect, trim or clear the result cache of `codeccmp sweep`.")
app.add_typer(cache_app, name="cache")

CacheDirOpt = Annotated[Path | None, typer.Option(
    help="The cache (default: $CODECCMP_CACHE_DIR or ~/.cache/codeccmp).")]


def _root(cache_dir: Path | None) -> Path:
    from codeccmp.errors import UsageError
    from codeccmp.sweep.cache import default_cache_dir

    root = cache_dir or default_cache_dir()
    if root.exists() and not root.is_dir():
        raise UsageError(f"--cache-dir {root} exists and is not a directory")
    return root


@cache_app.command("info")
def info_command(cache_dir: CacheDirOpt = None) -> None:
    """Where the cache is, how many entries of each kind it holds, their size and limit."""
    from codeccmp.sweep.cache import CACHE_VERSION
    from codeccmp.sweep.cachedir import ENV_MAX_SIZE, human, max_size, scan

    root = _root(cache_dir)
    usage = scan(root)
    limit = max_size()
    typer.echo(f"cache: {root}{'' if root.is_dir() else ' (not created yet)'}")
    for kind, (n, size) in usage.by_kind(CACHE_VERSION).items():
        typer.echo(f"{kind}: {n} entries, {human(size)}")
    old = [e for e in usage.entries if e.version != CACHE_VERSION]
    if old:
        typer.echo(f"older cache versions: {len(old)} entries, "
                   f"{human(sum(e.size for e in old))} (removed first when trimming)")
    typer.echo(f"total: {human(usage.total)} of a {human(limit) if limit else 'unlimited'} "
               f"limit (set with {ENV_MAX_SIZE}, e.g. 500M or 10G)")


@cache_app.command("clear")
def clear_command(cache_dir: CacheDirOpt = None) -> None:
    """Delete every cache entry (the next sweep recomputes everything)."""
    from codeccmp.sweep.cachedir import clear, human

    root = _root(cache_dir)
    n, size = clear(root)
    typer.echo(f"removed {n} entries ({human(size)}) from {root}")


@cache_app.command("trim")
def trim_command(
    cache_dir: CacheDirOpt = None,
    max_size: Annotated[str | None, typer.Option(
        help="Limit such as 500M or 2G (default: $CODECCMP_CACHE_MAX_SIZE, else 2G).")
    ] = None,
) -> None:
    """Bring the cache under its size limit now, least recently used entries first."""
    from codeccmp.sweep.cachedir import human, trim
    from codeccmp.sweep.cachedir import max_size as limit_of

    root = _root(cache_dir)
    n, size = trim(root, limit_of(max_size))
    typer.echo(f"removed {n} entries ({human(size)}) from {root}")
