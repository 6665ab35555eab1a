"""``codeccmp models list`` and ``codeccmp models pull``: where weights come from, fetching them.

Module-level imports stay light (typer only): this module is imported at every CLI start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from codeccmp.codec import CodecError, RunSettings
from codeccmp.errors import UsageError
from codeccmp_compressai import zoo

if TYPE_CHECKING:
    from rich.console import RenderableType

models_app = typer.Typer(
    name="models",
    help="Learned model weights: where each would come from, and fetching them.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


def register(app: typer.Typer) -> None:
    """Attach the ``models`` sub-command group to the main app (once, however often the
    hook runs: in-process callers start the CLI repeatedly)."""
    if any(g.typer_instance is models_app for g in app.registered_groups):
        return
    app.add_typer(models_app, name="models")


def _select(names: list[str] | None, *, include_unpublished: bool, metrics: tuple[str, ...]
            ) -> list[tuple[zoo.Arch, str]]:
    if not names:
        return [
            (a, m)
            for a in zoo.ARCHS.values()
            if a.zoo or include_unpublished
            for m in metrics
        ]
    out: list[tuple[zoo.Arch, str]] = []
    for name in names:
        try:
            out.append(zoo.split_codec_name(name.strip().lower()))
        except KeyError:
            from codeccmp.plugins import did_you_mean

            known = zoo.codec_names()
            raise UsageError(f"unknown learned model {name!r}{did_you_mean(name, known)}; "
                             f"known: {', '.join(known)}") from None
    return out


def _meta_text(path: Path) -> str:
    from codeccmp_compressai.checkpoints import read_meta

    meta = read_meta(path)
    if not meta:
        return ""
    bits = []
    if "model" in meta:
        bits.append(f"{meta['model']}/{meta.get('metric', '?')}")
    if "lmbda" in meta:
        bits.append(f"λ={meta['lmbda']:g}" if isinstance(meta["lmbda"], (int, float))
                    else f"λ={meta['lmbda']}")
    if "steps" in meta:
        bits.append(f"{meta['steps']} steps")
    return ", ".join(bits)


@models_app.command("list")
def list_models(
    models: list[str] | None = typer.Argument(
        None, metavar="CODEC",
        help="Codec names (bmshj2018-factorized, mbt2018-mse, ...); default: all."
    ),
    weights: list[str] = typer.Option(
        [], "--weights", metavar="CODEC[:QUALITY]=PATH",
        help="CODEC[:QUALITY]=PATH, as for compare (repeatable)."
    ),
    weights_dir: Path | None = typer.Option(
        None, "--weights-dir", envvar="CODECCMP_WEIGHTS_DIR",
        help="Directory of weights under the zoo's file names.",
    ),
    offline: bool = typer.Option(
        False, "--offline", envvar="CODECCMP_OFFLINE", help="Never download."
    ),
) -> None:
    """Show, per model and quality, where its weights would come from, or that they are missing."""
    from codeccmp_compressai import weights as wts

    selected = _select(models, include_unpublished=True, metrics=zoo.METRICS)
    if weights_dir is not None and not weights_dir.is_dir():  # as compare refuses it
        raise UsageError(f"weights directory not found: {weights_dir}"
                         if not weights_dir.exists() else
                         f"--weights-dir {weights_dir} is a file, not a folder")
    settings = RunSettings(
        weights=wts.parse_weights_option(weights),
        weights_dir=str(weights_dir) if weights_dir else None,
        offline=offline,
    )
    hub = wts.hub_checkpoints_dir()
    wdir = wts.weights_dir(settings)
    # One line per quality at any terminal width: a file is named relative to the folder it
    # is in, and the folders and the download server (the same for every row) are said once
    # below the table, instead of a URL or path folded over five lines in every row.
    folders = {"hub-cache": hub, "weights-dir": Path(wdir) if wdir else None}
    servers: set[str] = set()
    fetch: dict[str, str] = {}  # codec: the command that downloads its missing files
    rows: list[tuple[str, str, str, str, str]] = []
    for arch, metric in selected:
        codec = arch.codec_name(metric)
        resolutions = wts.resolve_codec(arch.name, metric, settings)
        if not resolutions:
            rows.append((codec, "-", "missing", wts.missing_reason(arch.name, metric, {}), ""))
            continue
        for q, r in sorted(resolutions.items()):
            if r.source == "missing":
                where = r.reason if not arch.zoo or r.reason.startswith("--weights") else (
                    r.filename)
                if where == r.filename:  # said once under the codec's lines
                    fetch[codec] = wts.pull_command(arch.name, metric)
                source = "[red]missing[/red]"
            elif r.source == "download":
                server, _, where = str(r.url).rpartition("/")
                servers.add(server + "/")
                source = "download"
            else:
                where, source = _in_folder(r.path, folders.get(r.source)), r.source
            meta = ""
            if r.local and r.path is not None and not r.expected_prefix:
                meta = _meta_text(r.path)
            rows.append((codec, str(q), source, where, meta))
    from codeccmp.render.console import stdout_console

    console = stdout_console()
    console.print("Learned model weights: a line per quality (quality, source, file)",
                  style="bold", highlight=False)
    for block in _blocks(rows, fetch):
        console.print(block, highlight=False)
    console.print(
        f"hub cache: {hub}   weights dir: {wdir if wdir else '-'}   "
        f"offline: {'yes' if wts.is_offline(settings) else 'no'}",
        highlight=False, markup=False,  # paths as they are, brackets included
    )
    for server in sorted(servers):
        console.print(f"downloads from: {server}", highlight=False, soft_wrap=True,
                      markup=False)


def _blocks(rows: list[tuple[str, str, str, str, str]], fetch: dict[str, str],
            ) -> list[RenderableType]:
    """A block per codec: its name, then a line per quality (quality, source, file and, for
    a training checkpoint, its model, λ and steps), then, where files are missing, the
    command that fetches them (once, not on each of eight lines). With the codec repeated
    in a column beside them, a zoo file name (47 characters) had no room at 80 columns and
    folded mid-name on every one of 128 rows; indented under its codec it fits whole."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    blocks: list[RenderableType] = []
    checkpoints = any(row[4] for row in rows)  # a column only when a training run made one
    # The same widths in every block, so that the files line up from codec to codec.
    quality_w = max(len(row[1]) for row in rows)
    source_w = max(len(Text.from_markup(row[2])) for row in rows)
    for codec in dict.fromkeys(row[0] for row in rows):
        grid = Table.grid(padding=(0, 2))
        grid.add_column(justify="right", no_wrap=True, min_width=quality_w)
        grid.add_column(no_wrap=True, min_width=source_w)
        grid.add_column()
        if checkpoints:
            grid.add_column()
        for _, quality, source, where, meta in (row for row in rows if row[0] == codec):
            cells: list[str | Text] = [
                quality, Text.from_markup(source), Text(where)]
            grid.add_row(*cells, *([Text(meta)] if checkpoints else []))
        after = [Text(f"fetch: {fetch[codec]}")] if codec in fetch else []
        blocks.append(Group(Text(codec, style="bold"), Padding(Group(grid, *after),
                                                               (0, 0, 0, 2))))
    return blocks


def _in_folder(path: Path | None, folder: Path | None) -> str:
    """``path`` relative to ``folder`` when it is inside it (the folder is printed once
    below the table), else whole."""
    if path is None:
        return ""
    if folder is not None:
        try:
            return str(path.relative_to(folder))
        except ValueError:
            pass
    return str(path)


@models_app.command("pull")
def pull_models(
    models: list[str] | None = typer.Argument(
        None, metavar="CODEC",
        help="Codec names (default: every zoo model's MS-SSIM variant)."
    ),
    quality: list[int] = typer.Option(
        [], "--quality", "-q", metavar="Q", help="Only these qualities (repeatable); default: all."
    ),
    include_mse: bool = typer.Option(
        False, "--all", help="With no names: the MSE variants too."
    ),
) -> None:
    """Download zoo weights into the torch hub cache, checking each file's hash."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    from codeccmp.model.digests import file_sha256
    from codeccmp_compressai import weights as wts
    from codeccmp_compressai.zoo_download import download

    if wts.is_offline():
        raise UsageError("cannot download while offline (CODECCMP_OFFLINE is set)")
    metrics = zoo.METRICS if include_mse else (zoo.DEFAULT_METRIC,)
    selected = _select(models, include_unpublished=False, metrics=metrics)
    jobs: list[tuple[str, str, Path, str | None]] = []
    for arch, metric in selected:
        if not arch.zoo:
            raise UsageError(
                f"{arch.codec_name(metric)}: no published weights; train one with "
                f"`codeccmp train {arch.name} ...`"
            )
        wanted = quality or list(arch.qualities)
        bad = [q for q in wanted if q not in arch.qualities]
        if bad:
            raise UsageError(
                f"{arch.name} has qualities {arch.qualities[0]}-{arch.qualities[-1]}, not {bad}"
            )
        for q in wanted:
            name = zoo.zoo_filename(arch.name, metric, q)
            url = zoo.zoo_url(arch.name, metric, q)
            if name and url:
                jobs.append((name, url, wts.hub_checkpoints_dir() / name, zoo.hash_prefix(name)))
    console = Console(stderr=True)
    fetched = cached = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
    ) as bar:
        for name, url, dest, prefix in jobs:
            if dest.is_file() and (prefix is None or file_sha256(dest).startswith(prefix)):
                cached += 1
                continue
            task = bar.add_task(name, total=None)

            def cb(done: int, total: int | None, _task: int = task) -> None:
                bar.update(_task, completed=done, total=total)

            try:
                download(url, dest, prefix, cb)
            except CodecError as exc:  # network failure or hash mismatch: one line
                bar.stop()
                typer.echo(f"error: {exc}", err=True)
                raise typer.Exit(1) from None
            fetched += 1
    console.print(
        f"{fetched} downloaded, {cached} already cached, in {wts.hub_checkpoints_dir()}",
        highlight=False, markup=False,
    )
