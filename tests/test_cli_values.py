"""Command-line values converted without pydantic (``codeccmp.cli.values``), the run of one
built-in command built alone, and what both leave unchanged: values, help, messages."""

from __future__ import annotations

import math
import os
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, one_line

typer_coercion = pytest.importorskip(
    "typer._coercion", reason="this typer converts values with click's types, not pydantic")
from typer._click import Context  # noqa: E402
from typer._click.exceptions import BadParameter  # noqa: E402

from codeccmp.cli import app as cli_app  # noqa: E402
from codeccmp.cli import values  # noqa: E402

#: What a user may type, and what typer's conversion decides about each: whole numbers with
#: a zero fraction, underscores, signs, spaces, infinities, other scripts' digits, overflow.
INPUTS = ["1", "0.3", " 2 ", "-1", "+5", "3.0", "+3.00", "3.", "3.5", ".5", "0.", "1e3",
          "1E-2", "5e", "abc", "", "-", "inf", "-inf", "Infinity", "nan", "1_000", "1__0",
          "_1", "1_", "0x10", "١٢", "-0.0", "1e400", "99999999999999999999999", "\t4\n",
          "true", "no", "YES", "off", "x/y.png", "~/a b.png"]


class Kind(str, Enum):
    a = "a"


def _full_group() -> Any:
    import typer.main

    cli_app._load_commands()
    return typer.main.get_command(cli_app.app)


def _parameters(group: Any) -> list[Any]:
    """Every parameter of every command, each command's ``--help`` included."""
    out = []
    for cmd in values._commands(group):
        ctx = Context(cmd, help_option_names=["-h", "--help"])
        out += cmd.get_params(ctx)
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def _outcome(converter: Any, value: Any, param: Any, ctx: Any) -> tuple[str, Any]:
    try:
        return "value", converter.coerce(value, param=param, ctx=ctx)
    except BadParameter:
        return "refused", None


def test_every_parameter_of_every_command_converts_as_typers_own() -> None:
    """typer's own conversion is the reference: the same value (and type) or a refusal for
    every input, on every parameter, the plugins' commands and ``--help`` included."""
    group = _full_group()
    checked = 0
    for param in _parameters(group):
        ours = values.converter_for(param, BadParameter)
        assert ours is not None, f"{param.name}: {param.type_descriptor.annotation}"
        theirs = typer_coercion.build_runtime_param(param.type_descriptor)
        ctx = Context(group)
        for text in INPUTS:
            given = (text, text) if ours.repeated else text  # click gives a tuple
            a, b = _outcome(ours, given, param, ctx), _outcome(theirs, given, param, ctx)
            assert a[0] == b[0] and _same(a[1], b[1]), (param.name, text, a, b)
        for given in (None, param.default):  # defaults are processed too
            if given is not None and (ours.repeated and not isinstance(given, (list, tuple))):
                continue
            a, b = _outcome(ours, given, param, ctx), _outcome(theirs, given, param, ctx)
            assert a[0] == b[0] and _same(a[1], b[1]), (param.name, given, a, b)
        checked += 1
    assert checked > 100  # every command was walked, not just the root


def test_installing_gives_every_parameter_a_converter_before_parsing() -> None:
    group = _full_group()
    given = values.install(group)
    params = _parameters(group)  # makes the --help options, which get theirs as made
    assert given == len(params) - len(list(values._commands(group)))
    assert all(isinstance(p._runtime_param, values.PlainValue) for p in params)


def test_a_parameter_that_needs_typers_checks_keeps_typers_conversion() -> None:
    """Choices, ranges, paths that must exist: typer's conversion, untouched."""
    import typer
    import typer.main

    demo = typer.Typer()

    @demo.command()
    def run(kind: Kind = Kind.a,
            level: int = typer.Option(1, min=0, max=9),
            src: Path = typer.Option(Path("."), exists=True),
            name: str = "x") -> None:
        """Demo."""

    cmd = typer.main.get_command(demo)
    values.install(cmd)
    plain = {p.name for p in cmd.params if isinstance(p._runtime_param, values.PlainValue)}
    assert {"kind", "level", "src"}.isdisjoint(plain) and "name" in plain


def test_an_unreadable_path_is_refused_as_typer_refuses_it(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ask ``os.access`` (root may read anything, so the test says no for it)."""
    locked = tmp_path / "locked.png"
    locked.write_bytes(b"x")
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, *a, **k: False
                        if Path(path) == locked and mode == os.R_OK else access(path, mode))
    group = _full_group()
    image = next(p for p in group.commands["compare"].params if p.name == "image")
    ctx = Context(group)
    for conv in (values.converter_for(image, BadParameter),
                 typer_coercion.build_runtime_param(image.type_descriptor)):
        with pytest.raises(BadParameter, match=f"path '{locked}' is not readable"):
            conv.coerce(str(locked), param=image, ctx=ctx)
        assert conv.coerce(str(tmp_path), param=image, ctx=ctx) == tmp_path


@pytest.mark.parametrize(("args", "message"), [
    (["--bpp", "abc"], "error: Invalid value for '--bpp': 'abc' is not a valid float."),
    (["--bpp", "0.3", "--roi-count", "2.5"],
     "error: Invalid value for '--roi-count': '2.5' is not a valid integer."),
])
def test_a_bad_number_is_named_in_the_message(cli, args: list[str], message: str) -> None:  # noqa: ANN001
    r = cli("compare", str(ROOT / "samples" / "barbara.png"), *args)
    assert r.code == 2 and one_line(r.stderr) == message


def test_a_builtin_command_is_built_alone_with_the_same_help() -> None:
    for name in cli_app._BUILTIN_COMMANDS:
        alone = cli_app._command([name, "-h"])
        assert list(alone.commands) == [name]
        full = _full_group()
        ctx_a = alone.make_context("codeccmp", [name], resilient_parsing=True)
        ctx_f = full.make_context("codeccmp", [name], resilient_parsing=True)
        sub_a, sub_f = alone.commands[name], full.commands[name]
        assert sub_a.get_help(Context(sub_a, parent=ctx_a, info_name=name)) == \
            sub_f.get_help(Context(sub_f, parent=ctx_f, info_name=name))
    # Anything else is the whole group: top-level help, plugins' commands, a typo.
    for args in ([], ["-h"], ["train"], ["compar"], ["--version"]):
        assert "compare" in cli_app._command(args).commands
        assert "sweep" in cli_app._command(args).commands


def test_a_standard_codec_run_imports_no_pydantic() -> None:
    """typer's conversion imports pydantic (about 90 ms at every start); ours does not."""
    from procs import python_argv, run

    code = ("import sys; from codeccmp.cli.app import main\n"
            "try: main(sys.argv[1:])\nexcept SystemExit as e: print('exit', e.code)\n"
            "print('pydantic' in sys.modules, 'typer._adapters' in sys.modules)")
    args = ["compare", str(ROOT / "samples" / "stripes.png"), "--bpp", "1", "--codecs", "jpeg",
            "--roi", "none", "-q"]
    p = run(python_argv(code, *args), timeout=120, cwd=ROOT)
    assert p.stdout.splitlines()[-2:] == ["exit 0", "False False"], p.stderr[-1000:]


def test_a_plugin_command_may_not_take_a_builtin_name(cli, monkeypatch) -> None:  # noqa: ANN001
    """A run of ``compare`` builds the built-in alone (no plugin commands loaded), so a
    plugin's ``compare`` would run or not depending on the arguments: it is refused."""
    import pluggy

    from codeccmp import hookimpl, plugins

    class Takes:
        @hookimpl
        def register_commands(self, app) -> None:  # noqa: ANN001
            @app.command("compare")
            def compare() -> None:
                print("the plugin's compare")

    real = plugins.get_plugin_manager

    def with_takes(files=()) -> pluggy.PluginManager:  # noqa: ANN001
        pm = real(files)
        pm.register(Takes(), name="takes")
        return pm

    monkeypatch.setattr(plugins, "get_plugin_manager", with_takes)
    monkeypatch.setattr(cli_app.app, "registered_commands",
                        list(cli_app.app.registered_commands))
    r = cli("--help")
    assert r.code == 2 and one_line(r.stderr) == (
        "error: a plugin registered a command named 'compare', a built-in command's name: "
        "give it another")
    r = cli("compare", "-h")  # the built-in, whatever the plugin did
    assert r.code == 0 and "Code IMAGE" in r.stdout
