"""``codeccmp models list|pull`` and the plugin's start-up cost."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
from codeccmp_compressai import checkpoints, zoo
from procs import python_argv, run

torch = pytest.importorskip("torch")

ARCH = "bmshj2018-factorized"


@pytest.fixture
def served(tmp_path, learned_env, learned_states, learned_save, monkeypatch):
    """Quality 1 of bmshj2018-factorized (ms-ssim) on a local HTTP server, as the zoo names
    it; yields (served file, its name)."""
    root = tmp_path / "served"
    path, sha = learned_save(tmp_path / "staging.pth.tar", learned_states(ARCH, 1))
    name = f"{ARCH}-ms-ssim-1-{sha[:8]}.pth.tar"
    zoo.FILE_OVERRIDES[(ARCH, "ms-ssim", 1)] = name
    (root / "models").mkdir(parents=True)
    target = root / "models" / name
    path.rename(target)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    monkeypatch.setenv("CODECCMP_ZOO_URL", f"http://127.0.0.1:{server.server_address[1]}/models")
    try:
        yield target, name
    finally:
        server.shutdown()
        server.server_close()


def test_import_does_not_load_torch() -> None:
    code = ("import sys, codeccmp_compressai, codeccmp_compressai.codecs, "
            "codeccmp_compressai.cli_models; "
            "assert 'torch' not in sys.modules and 'compressai' not in sys.modules")
    r = run(python_argv(code), timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]


def test_zoo_table_read_without_import_matches_compressai() -> None:
    parsed = zoo._parse_zoo_source()
    zoo.import_compressai()
    from compressai.zoo.image import model_urls, root_url

    assert parsed == (root_url, model_urls)


def test_models_list_shows_sources(cli, learned_env, learned_states, learned_save,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    learned_save(learned_env.wdir / f"{ARCH}-ms-ssim-3.pth", learned_states(ARCH, 3), zoo=False)
    r = cli("models", "list", ARCH, "--weights-dir", str(learned_env.wdir), "--offline")
    assert r.code == 0, r.stderr
    assert "weights-dir" in r.stdout and "missing" in r.stdout
    assert zoo.zoo_filename(ARCH, "ms-ssim", 1) in r.stdout.replace("\n", "")
    # Seven qualities missing, the command that fetches them said once.
    assert r.stdout.count(f"fetch: codeccmp models pull {ARCH}") == 1, r.stdout
    online = cli("models", "list", f"{ARCH}-mse")
    assert online.code == 0 and "download" in online.stdout
    # A line per quality under its codec, the file by its whole name; the server, the same
    # for all, said once.
    lines = online.stdout.splitlines()
    rows = [line for line in lines if line.split()[1:2] == ["download"]]
    assert len(rows) == 8 and lines[lines.index(rows[0]) - 1] == f"{ARCH}-mse", online.stdout
    assert [row.split() for row in rows] == [
        [str(q), "download", zoo.zoo_filename(ARCH, "mse", q)] for q in range(1, 9)]
    # At 80 columns too: a zoo file name was folded mid-name on every row.
    monkeypatch.setenv("COLUMNS", "80")
    narrow = cli("models", "list", f"{ARCH}-mse").stdout.splitlines()
    assert [line for line in narrow if line.split()[1:2] == ["download"]] == rows
    servers = [line for line in online.stdout.splitlines() if line.startswith("downloads from: ")]
    assert len(servers) == 1 and servers[0].removeprefix("downloads from: ").startswith("http")


def test_models_list_training_checkpoint(cli, learned_env) -> None:
    models = pytest.importorskip("codeccmp_compressai.models")
    net = models.Bls2017Model(N=8)
    net.update(force=True)
    torch.save({"format": checkpoints.TRAIN_FORMAT, "model": "bls2017", "metric": "ms-ssim",
                "lmbda": 8.73, "steps": 4321, "config": {"N": 8},
                "state_dict": net.state_dict()}, learned_env.wdir / "bls2017-ms-ssim-1.pth")
    r = cli("models", "list", "bls2017", "lee2019", "--weights-dir", str(learned_env.wdir))
    assert r.code == 0, r.stderr
    assert "λ=8.73" in r.stdout and "4321 steps" in r.stdout
    assert "no published weights" in r.stdout.replace("\n", " ")  # lee2019


def test_models_list_unknown_name(cli, learned_env) -> None:
    r = cli("models", "list", "nosuchmodel")
    assert r.code == 2 and "unknown learned model 'nosuchmodel'" in r.stderr


def test_models_pull_downloads_with_hash_check(cli, learned_env, served) -> None:
    _, name = served
    r = cli("models", "pull", ARCH, "-q", "1")
    assert r.code == 0, r.stderr
    assert (learned_env.hub / name).is_file()
    assert "1 downloaded" in r.stderr
    again = cli("models", "pull", ARCH, "-q", "1")
    assert again.code == 0 and "1 already cached" in again.stderr


def test_models_pull_wrong_hash(cli, learned_env, served) -> None:
    target, name = served
    target.write_bytes(target.read_bytes()[:-10] + b"0123456789")
    r = cli("models", "pull", ARCH, "-q", "1")
    assert r.code == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "expected a hash starting" in errors[0]
    assert not (learned_env.hub / name).exists()


def test_models_pull_network_failure(cli, learned_env, monkeypatch) -> None:
    monkeypatch.setenv("CODECCMP_ZOO_URL", "http://127.0.0.1:9/models")
    r = cli("models", "pull", ARCH, "-q", "2")
    assert r.code == 1
    assert "error: download of" in r.stderr and "failed" in r.stderr


def test_models_pull_refusals(cli, learned_env, monkeypatch) -> None:
    r = cli("models", "pull", "bls2017")
    assert r.code == 2 and "no published weights" in r.stderr
    r = cli("models", "pull", ARCH, "-q", "9")
    assert r.code == 2 and "qualities 1-8" in r.stderr
    monkeypatch.setenv("CODECCMP_OFFLINE", "1")
    r = cli("models", "pull", ARCH)
    assert r.code == 2 and "offline" in r.stderr


def test_codecs_command_lists_learned_codecs(cli, learned_env, monkeypatch) -> None:
    monkeypatch.setenv("CODECCMP_OFFLINE", "1")
    r = cli("codecs")
    assert r.code == 0, r.stderr
    text = r.stdout.replace("\n", " ")
    for name in ("bmshj2018-factorized", "mbt2018-mse", "cheng2020-attn", "bls2017"):
        assert name in text
