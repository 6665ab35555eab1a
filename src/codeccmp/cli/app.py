"""The typer application and the entry point that turns errors into one clear line."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from typing import Any

import typer

try:  # typer >= 0.20 vendors click; older releases depend on it
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_exc  # type: ignore[no-redef]

from codeccmp.errors import UsageError

app = typer.Typer(
    name="codeccmp",
    help="Compare learned and standard image codecs at the same bitrate, with real bitstreams.",
    no_args_is_help=True,
    # --install-completion / --show-completion for bash, zsh, fish and PowerShell (typer's):
    # commands, options, files, and codec and metric names (codeccmp.cli.complete).
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    # -h as well as --help, on every command (a context setting the commands inherit), as in
    # git, pip and ruff.
    context_settings={"help_option_names": ["-h", "--help"]},
)

def _print_version(value: bool) -> None:
    if value:
        from codeccmp import __version__

        typer.echo(f"codeccmp {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", is_eager=True, callback=_print_version,
                                 help="Print the version and exit."),
) -> None:
    """Compare learned and standard image codecs at the same bitrate, with real bitstreams."""


# Built-in command modules; each registers itself on ``app`` when imported, and --help lists
# them in this order (the main job first; the plugins' commands, train and models, follow).
_BUILTIN_COMMANDS = ("compare", "sweep", "measure", "report", "codecs", "metrics", "references",
                     "cache")


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line on stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _builtin_run(argv: list[str] | None) -> str | None:
    """The built-in command this run is (``codeccmp compare ...``), or None: top-level help
    or version, a plugin's command, a typo, a shell completion."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in _BUILTIN_COMMANDS and "_CODECCMP_COMPLETE" not in os.environ:
        return args[0]
    return None


def _load_commands(only: str | None = None) -> None:
    """Register the built-in commands and the plugins' (``register_commands``); ``only``:
    that built-in command alone, for a run of it (the others' modules and the plugins'
    commands are not needed to parse its arguments)."""
    import importlib

    for mod in (only,) if only else _BUILTIN_COMMANDS:
        importlib.import_module(f"codeccmp.cli.{mod}")
    if only:
        return
    from codeccmp.plugins import get_plugin_manager

    before = list(app.registered_commands), list(app.registered_groups)
    get_plugin_manager().hook.register_commands(app=app)
    names = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    taken = sorted({n for n in names if n in _BUILTIN_COMMANDS and names.count(n) > 1})
    if taken:  # typer would run the plugin's, and a run of the built-in skips the plugins
        app.registered_commands, app.registered_groups = before
        raise UsageError(f"a plugin registered a command named {taken[0]!r}, a built-in "
                         "command's name: give it another")


def main(argv: list[str] | None = None, *, own_process: bool = True) -> None:
    """Console entry point: bad input exits 2 with one line on stderr, never a traceback.

    ``own_process=False`` runs the command inside someone else's Python process (the tests
    do): then nothing process-wide is changed (see ``codeccmp.pipeline.warmup.own_process``).
    """
    if own_process:
        from codeccmp.pipeline import warmup

        # A command-line run owns its process: the cyclic garbage collector is kept off
        # while it starts and while the warm-up imports, and what the warm-up imported is
        # frozen.
        warmup.own_process()
    try:
        _load_commands(_builtin_run(argv))
    except UsageError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if not own_process:
        sys.exit(_run(argv))
    try:
        rv = _run(argv)
    finally:
        # Everything the run made is written and closed by now. Without this the
        # interpreter's final collection walks every object torch and compressai created:
        # 0.6 s of a 4 s ``compare`` on the development machine, for nothing.
        gc.freeze()
    sys.exit(rv)


_INTERRUPT = {"reported": False}


def interrupted(message: str) -> typer.Exit:
    """For a command whose Ctrl-C leaves something to say (``train`` saves a checkpoint):
    print this line instead of the generic one; raise the Exit returned."""
    typer.echo(f"error: {message}", err=True)
    _INTERRUPT["reported"] = True
    return typer.Exit(130)


def _interrupted() -> None:
    """Ctrl-C: one line, exit 130. Outputs are staged until a run ends, so none were
    written and the same command can be run again as is."""
    if not _INTERRUPT["reported"]:
        typer.echo("error: interrupted; no output written", err=True)
    sys.exit(130)


class _sigint_seen:
    """Note whether Ctrl-C arrived: typer turns the KeyboardInterrupt into a plain return
    value of 130, indistinguishable from a command returning 130."""

    def __init__(self) -> None:
        self.seen = False
        self.saved = None

    def _handler(self, signum: int, frame: object) -> None:
        # Only the first Ctrl-C interrupts; the run is stopping after it. Another one (a
        # double press, ``timeout -s INT``) raised in the middle of the clean-up, or in the
        # interpreter's exit, and printed a traceback ("Exception ignored in
        # threading._shutdown"); it is now as quiet as the first.
        if self.seen:
            return
        self.seen = True
        raise KeyboardInterrupt

    def __enter__(self) -> _sigint_seen:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.saved = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.saved is not None and not self.seen:
            signal.signal(signal.SIGINT, self.saved)
        elif self.saved is not None:
            # Interrupted: the process is about to exit (130); a Ctrl-C during the exit
            # (threads joined, workers reaped) is ignored rather than printed.
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run(argv: list[str] | None) -> int:
    _INTERRUPT["reported"] = False
    with _sigint_seen() as sigint:
        rv = _run_app(argv)
    if sigint.seen:
        _interrupted()
    return rv


def _command(argv: list[str] | None) -> Callable[..., Any]:
    """The click command for this run, its values converted by :mod:`codeccmp.cli.values`.

    A run of a built-in command (``codeccmp compare ...``) gets a group holding that command
    alone: typer builds a command from its function's signature at every start, 20–30 ms for
    all of them, and the others are not needed to parse this one's arguments (a plugin's
    command may not take a built-in's name: ``_load_commands``). Everything else
    (``--help``, a plugin's command, a typo, shell completion) gets the whole group.
    """
    import copy

    import typer.main

    from codeccmp.cli.values import install

    name = _builtin_run(argv)
    chosen = app
    if name is not None:
        commands = [c for c in app.registered_commands if c.name == name]
        groups = [g for g in app.registered_groups if g.name == name]
        if len(commands) + len(groups) == 1:
            chosen = copy.copy(app)  # the same settings and root callback
            chosen.registered_commands, chosen.registered_groups = commands, groups
    command = typer.main.get_command(chosen)
    install(command)
    return command


def _run_app(argv: list[str] | None) -> int:
    try:
        rv = _command(argv)(args=argv, standalone_mode=False)
    except UsageError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click_exc.NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else "see codeccmp --help")
        sys.exit(0)
    except click_exc.ClickException as exc:
        # Usage errors from the parser itself (unknown option, bad value): one line.
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            _interrupted()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _interrupted()
    except BrokenPipeError:
        # The reader went away (``| head``): like any Unix filter, stop without a word.
        # Standard output is pointed at /dev/null so that Python's own flush at exit does
        # not fail again (the recipe of Python's signal documentation).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except OSError as exc:
        # The system refused (disk full, permission, a file gone): not a bug of ours, so
        # the system's own words, without "internal error". Outputs are written through
        # fileio.Outputs, which has already put back whatever was there.
        if os.environ.get("CODECCMP_DEBUG"):
            raise
        where = f": {exc.filename}" if exc.filename else ""
        typer.echo(f"error: {exc.strerror or exc}{where}", err=True)
        sys.exit(1)
    except Exception as exc:  # a bug of ours: still one line, the traceback on request
        if os.environ.get("CODECCMP_DEBUG"):
            raise
        typer.echo(f"error: internal error: {type(exc).__name__}: {exc} "
                   "(set CODECCMP_DEBUG=1 for the traceback)", err=True)
        sys.exit(1)
    return rv if isinstance(rv, int) else 0
