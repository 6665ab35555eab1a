"""Weights resolution through the real code path, with checkpoints the tests build.

Order: ``--weights`` > weights dir (zoo file names, or ``<model>-<metric>-<q>.pth``) > torch
hub cache > download (sha256-prefix checked) unless offline. Downloads come from a local
HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from codeccmp_compressai import checkpoints, weights, zoo
from codeccmp_compressai.codecs import LearnedCodec

from codeccmp.codec import CodecError, CodecUnavailable, RunSettings
from codeccmp.errors import UsageError

torch = pytest.importorskip("torch")

ARCH = "bmshj2018-factorized"


def _image() -> np.ndarray:
    y, x = np.mgrid[0:32, 0:48]
    return np.clip(np.stack([x * 5, y * 7, (x + y) * 3], axis=2), 0, 255).astype(np.uint8)


def _zoo_name(sha: str, q: int, metric: str = "ms-ssim") -> str:
    return f"{ARCH}-{metric}-{q}-{sha[:8]}.pth.tar"


@pytest.fixture
def zoo_file(learned_env, learned_states, learned_save, monkeypatch):
    """``make(q, where)``: a zoo-layout checkpoint named as the zoo names it (the name's hash
    prefix made to match by overriding the file table), placed in ``where``."""

    def make(q: int, where: Path, metric: str = "ms-ssim") -> Path:
        tmp, sha = learned_save(learned_env.tmp / f"staging-{q}.pth.tar", learned_states(ARCH, q))
        name = _zoo_name(sha, q, metric)
        zoo.FILE_OVERRIDES[(ARCH, metric, q)] = name
        where.mkdir(parents=True, exist_ok=True)
        dest = where / name
        tmp.rename(dest)
        return dest

    return make


@pytest.fixture
def http_root(tmp_path):
    """A directory served on http://127.0.0.1:PORT; yields (directory, base URL)."""
    root = tmp_path / "served"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/models"
    finally:
        server.shutdown()
        server.server_close()


def _codec(**settings) -> LearnedCodec:
    codec = LearnedCodec(ARCH)
    codec.configure(RunSettings(device="cpu", **settings))
    return codec


# ------------------------------------------------------------------ --weights parsing


def test_parse_weights_option(tmp_path) -> None:
    f = tmp_path / "w.pth"
    f.write_bytes(b"x")
    assert weights.parse_weights_option([f"mbt2018:3={f}", f"bls2017-mse={f}"]) == {
        "mbt2018:3": str(f), "bls2017-mse": str(f)}
    for bad in ("mbt2018", f"={f}", "mbt2018=", f"mbt2018:x={f}", f"MBT 2018={f}"):
        with pytest.raises(UsageError, match="bad --weights"):
            weights.parse_weights_option([bad])
    with pytest.raises(UsageError, match="not found"):
        weights.parse_weights_option([f"mbt2018={tmp_path / 'nope.pth'}"])
    with pytest.raises(UsageError, match="twice"):
        weights.parse_weights_option([f"mbt2018={f}", f"mbt2018={f}"])
    with pytest.raises(UsageError, match="only checkpoint"):
        weights.parse_weights_option([f"mbt2018={f}", f"mbt2018:2={f}"])


# ------------------------------------------------------------------ resolution steps


def test_explicit_weights_per_quality(learned_env, learned_states, learned_save) -> None:
    path, sha = learned_save(learned_env.tmp / "mine.pth", learned_states(ARCH, 2), zoo=False)
    codec = _codec(weights={f"{ARCH}:2": str(path)}, offline=True)
    assert codec.availability() is None
    assert codec.param_space.values == (2,)  # offline: the other qualities are missing
    enc = codec.encode(_image(), 2)
    assert enc.settings["weights_source"] == "explicit"
    assert enc.settings["weights_sha256"] == sha
    assert codec.decode(enc.data).shape == _image().shape


def test_explicit_wins_over_weights_dir(learned_env, zoo_file, learned_states, learned_save):
    zoo_file(2, learned_env.wdir)
    mine, _ = learned_save(learned_env.tmp / "mine.pth", learned_states(ARCH, 3))
    codec = _codec(weights={f"{ARCH}:2": str(mine)}, weights_dir=str(learned_env.wdir))
    res = codec.resolutions()[2]
    assert res.source == "explicit" and res.path == mine


def test_weights_dir_with_zoo_names(learned_env, zoo_file) -> None:
    path = zoo_file(3, learned_env.wdir)
    codec = _codec(weights_dir=str(learned_env.wdir), offline=True)
    assert codec.param_space.values == (3,)
    enc = codec.encode(_image(), 3)
    assert enc.settings["weights_source"] == "weights-dir"
    assert enc.settings["weights"] == str(path)


def test_weights_dir_from_environment(learned_env, zoo_file, monkeypatch) -> None:
    zoo_file(1, learned_env.wdir)
    monkeypatch.setenv("CODECCMP_WEIGHTS_DIR", str(learned_env.wdir))
    monkeypatch.setenv("CODECCMP_OFFLINE", "1")
    codec = _codec()
    assert codec.param_space.values == (1,)
    assert codec.resolutions()[1].source == "weights-dir"


def test_weights_dir_plain_names(learned_env, learned_states, learned_save) -> None:
    learned_save(learned_env.wdir / f"{ARCH}-ms-ssim-3.pth", learned_states(ARCH, 3), zoo=False)
    learned_save(learned_env.wdir / f"{ARCH}-mse-11.pth", learned_states(ARCH, 1), zoo=False)
    codec = _codec(weights_dir=str(learned_env.wdir), offline=True)
    assert codec.param_space.values == (3,)
    mse = LearnedCodec(ARCH, "mse")
    mse.configure(RunSettings(weights_dir=str(learned_env.wdir), offline=True))
    assert mse.param_space.values == (11,)  # any quality number, not only the zoo's
    assert mse.encode(_image(), 11).settings["weights_source"] == "weights-dir"


def test_weights_dir_file_with_wrong_hash(learned_env, zoo_file) -> None:
    path = zoo_file(2, learned_env.wdir)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    codec = _codec(weights_dir=str(learned_env.wdir), offline=True)
    with pytest.raises(CodecError, match="corrupt or not the zoo's file"):
        codec.encode(_image(), 2)


def test_hub_cache(learned_env, zoo_file) -> None:
    """An existing torch hub cache (TORCH_HOME) is reused under the zoo's file names."""
    assert weights.hub_checkpoints_dir() == learned_env.hub
    path = zoo_file(4, learned_env.hub)
    codec = _codec(offline=True)
    assert codec.param_space.values == (4,)
    enc = codec.encode(_image(), 4)
    assert enc.settings["weights_source"] == "hub-cache"
    assert enc.settings["weights"] == str(path)


def test_weights_dir_wins_over_hub_cache(learned_env, zoo_file) -> None:
    zoo_file(4, learned_env.hub)
    zoo_file(4, learned_env.wdir)
    codec = _codec(weights_dir=str(learned_env.wdir), offline=True)
    assert codec.resolutions()[4].source == "weights-dir"


def test_download_with_right_hash(learned_env, zoo_file, http_root, monkeypatch) -> None:
    root, url = http_root
    zoo_file(1, root / "models")
    monkeypatch.setenv("CODECCMP_ZOO_URL", url)
    codec = _codec()
    assert codec.availability() is None  # online: every zoo quality can be fetched
    assert codec.resolutions()[1].source == "download"
    enc = codec.encode(_image(), 1)
    assert enc.settings["weights_source"] == "download"
    cached = learned_env.hub / zoo.FILE_OVERRIDES[(ARCH, "ms-ssim", 1)]
    assert cached.is_file()
    assert not list(learned_env.hub.glob("*.part"))
    # the next run finds it in the cache
    codec.configure(RunSettings(device="cpu", offline=True))
    assert codec.resolutions()[1].source == "hub-cache"


def test_download_with_wrong_hash(learned_env, zoo_file, http_root, monkeypatch) -> None:
    root, url = http_root
    served = zoo_file(1, root / "models")
    data = bytearray(served.read_bytes())
    data[100] ^= 0xFF  # damaged in transit / wrong server
    served.write_bytes(bytes(data))
    monkeypatch.setenv("CODECCMP_ZOO_URL", url)
    codec = _codec()
    with pytest.raises(CodecError, match="expected a hash starting") as info:
        codec.encode(_image(), 1)
    assert "discarded" in str(info.value)
    assert not learned_env.hub.exists() or not [
        p for p in learned_env.hub.iterdir() if not p.name.endswith(".lock")
    ]


def test_download_failure_makes_codec_unavailable(learned_env, zoo_file, monkeypatch) -> None:
    zoo_file(1, learned_env.tmp / "elsewhere")
    monkeypatch.setenv("CODECCMP_ZOO_URL", "http://127.0.0.1:9/models")  # nothing listens
    codec = _codec()
    with pytest.raises(CodecUnavailable, match="download of .* failed.*"
                       "codeccmp models pull bmshj2018-factorized"):
        codec.encode(_image(), 1)
    # remembered: the run does not wait for the network again for this file
    assert codec.resolutions()[1].source == "download"
    codec.configure(RunSettings(device="cpu"))
    assert codec.resolutions()[1].source == "missing"


def test_network_failure_keeps_local_qualities(learned_env, zoo_file, monkeypatch) -> None:
    """Online, with the zoo unreachable: rate matching falls back to what is on disk."""
    zoo_file(2, learned_env.wdir)
    monkeypatch.setenv("CODECCMP_ZOO_URL", "http://127.0.0.1:9/models")
    codec = _codec(weights_dir=str(learned_env.wdir))
    assert codec.param_space.values == tuple(range(1, 9))  # downloads allowed
    proposed = codec.match_rate(_image(), 0.5)
    assert [e.param for e in proposed] == [2]
    assert codec.param_space.values == (2,)  # the network is now known to be down
    other = LearnedCodec("mbt2018")  # and no other codec waits on it again
    other.configure(RunSettings())
    assert "zoo server unreachable" in (other.availability() or "")


def test_offline_missing_weights_reason(learned_env) -> None:
    codec = _codec(offline=True)
    reason = codec.availability()
    expected = zoo.zoo_filename(ARCH, "ms-ssim", 1)
    assert reason and expected in reason
    assert "codeccmp models pull bmshj2018-factorized" in reason
    mse = LearnedCodec("mbt2018", "mse")
    mse.configure(RunSettings(offline=True))
    assert "codeccmp models pull mbt2018-mse" in (mse.availability() or "")


def test_offline_from_environment(learned_env, monkeypatch) -> None:
    monkeypatch.setenv("CODECCMP_OFFLINE", "1")
    assert _codec().availability() is not None
    monkeypatch.setenv("CODECCMP_OFFLINE", "0")
    assert _codec().availability() is None


# ------------------------------------------------------------------ checkpoint formats


def test_load_checkpoint_formats(learned_env, learned_states, learned_save) -> None:
    zoo_path, _ = learned_save(learned_env.tmp / "z.pth.tar", learned_states(ARCH, 1))
    assert "entropy_bottleneck._matrices.0" in torch.load(zoo_path)  # the zoo's old layout
    sd, meta = checkpoints.load_checkpoint(zoo_path)
    assert meta == {} and "entropy_bottleneck._matrix0" in sd  # old names renamed
    plain, _ = learned_save(learned_env.tmp / "p.pth", learned_states(ARCH, 1), zoo=False)
    assert checkpoints.load_checkpoint(plain)[1] == {}
    train = learned_env.tmp / "t.pth"
    torch.save({"format": checkpoints.TRAIN_FORMAT, "model": ARCH, "metric": "ms-ssim",
                "lmbda": 8.73, "steps": 1234, "config": {"N": 8, "M": 12},
                "state_dict": learned_states(ARCH, 1),
                "optimizer": {"state": {}, "param_groups": []}}, train)
    sd, meta = checkpoints.load_checkpoint(train)
    assert meta["lmbda"] == 8.73 and meta["steps"] == 1234 and "optimizer" not in meta
    codec = _codec(weights={ARCH: str(train)})
    enc = codec.encode(_image(), 0)
    assert enc.settings["checkpoint_lmbda"] == 8.73


def test_wrong_architecture_is_a_clear_error(learned_env, learned_states, learned_save) -> None:
    hyper, _ = learned_save(learned_env.tmp / "h.pth", learned_states("bmshj2018-hyperprior", 1))
    codec = _codec(weights={ARCH: str(hyper)})
    with pytest.raises(CodecError, match=re.escape(f"{hyper}: state dict does not match "
                                                   "bmshj2018-factorized")):
        codec.encode(_image(), 0)
    mean, _ = learned_save(learned_env.tmp / "m.pth", learned_states("mbt2018-mean", 1))
    sh = LearnedCodec("bmshj2018-hyperprior")
    sh.configure(RunSettings(weights={"bmshj2018-hyperprior": str(mean)}))
    with pytest.raises(CodecError, match="does not match bmshj2018-hyperprior: size mismatch"):
        sh.encode(_image(), 0)


def test_training_checkpoint_for_another_model(learned_env, learned_states) -> None:
    ckpt = learned_env.tmp / "other.pth"
    torch.save({"format": checkpoints.TRAIN_FORMAT, "model": "bls2017", "metric": "ms-ssim",
                "lmbda": 1.0, "steps": 1, "config": {}, "state_dict": learned_states(ARCH, 1)},
               ckpt)
    codec = _codec(weights={ARCH: str(ckpt)})
    with pytest.raises(CodecError, match="is for model bls2017, not bmshj2018-factorized"):
        codec.encode(_image(), 0)
    torch.save({"format": checkpoints.TRAIN_FORMAT, "model": ARCH, "metric": "mse",
                "lmbda": 1.0, "steps": 1, "config": {}, "state_dict": learned_states(ARCH, 1)},
               ckpt)
    weights.clear_caches()
    codec = _codec(weights={ARCH: str(ckpt)})
    with pytest.raises(CodecError, match="trained for mse, not ms-ssim; use codec "
                                         "bmshj2018-factorized-mse"):
        codec.encode(_image(), 0)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04broken"])
def test_corrupt_file_is_a_clear_error(learned_env, content: bytes) -> None:
    bad = learned_env.tmp / "bad.pth"
    bad.write_bytes(content)
    expected = ("is not a readable checkpoint: truncated or corrupt" if content.startswith(b"PK")
                else "is not a checkpoint: not a file written by torch.save")
    with pytest.raises(CodecError, match=expected) as info:
        checkpoints.load_checkpoint(bad)
    # Whole words, and nothing of torch's own message about its defaults.
    assert "PyTorch 2.6" not in str(info.value) and "weights_only" not in str(info.value)
    assert str(info.value).endswith(("(check the path)", "download or copy?)"))
    if content.startswith(b"PK"):  # found when loaded
        codec = _codec(weights={ARCH: str(bad)})
        with pytest.raises(CodecError, match=expected):
            codec.encode(_image(), 0)
    else:  # not torch.save's at all: bad input, refused as the codec is configured
        with pytest.raises(UsageError, match=f"^--weights {ARCH}: weights file .* {expected}"):
            _codec(weights={ARCH: str(bad)})


def test_checkpoint_with_python_objects_is_refused(learned_env) -> None:
    pickled = learned_env.tmp / "objects.pth"
    torch.save({"state_dict": {}, "args": Path("x")}, pickled)
    with pytest.raises(CodecError, match="weights_only=True"):
        checkpoints.load_checkpoint(pickled)


def test_truncated_checkpoint(learned_env, learned_states, learned_save) -> None:
    path, _ = learned_save(learned_env.tmp / "t.pth", learned_states(ARCH, 1))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CodecError, match="corrupt"):
        checkpoints.load_checkpoint(path)


# ------------------------------------------------------------------ bls2017 / lee2019


def test_unpublished_models_without_weights(learned_env) -> None:
    for arch in ("bls2017", "lee2019"):
        codec = LearnedCodec(arch)
        codec.configure(RunSettings())
        reason = codec.availability() or ""
        assert f"no published weights; train one with `codeccmp train {arch} ...`" in reason


def test_unpublished_model_from_weights_dir(learned_env) -> None:
    models = pytest.importorskip("codeccmp_compressai.models")
    torch.manual_seed(0)
    net = models.Bls2017Model(N=8)
    net.update(force=True)
    torch.save({"format": checkpoints.TRAIN_FORMAT, "model": "bls2017", "metric": "mse",
                "lmbda": 0.0067, "steps": 10, "config": {"N": 8},
                "state_dict": net.state_dict(), "optimizer": {}},
               learned_env.wdir / "bls2017-mse-2.pth")
    codec = LearnedCodec("bls2017", "mse")
    codec.configure(RunSettings(weights_dir=str(learned_env.wdir)))
    assert codec.availability() is None and codec.param_space.values == (2,)
    enc = codec.encode(_image(), 2)
    assert enc.settings["drift_check"] == "forward" and enc.settings["checkpoint_steps"] == 10
    assert codec.decode(enc.data).shape == _image().shape
    ms = LearnedCodec("bls2017")  # the ms-ssim codec does not pick up an mse file
    ms.configure(RunSettings(weights_dir=str(learned_env.wdir)))
    assert ms.availability() is not None


def test_lee2019_round_trip(learned_env) -> None:
    models = pytest.importorskip("codeccmp_compressai.models")
    torch.manual_seed(0)
    net = models.Lee2019Model(N=8, M=8)
    net.update(force=True)
    path = learned_env.tmp / "lee.pth"
    torch.save(net.state_dict(), path)
    codec = LearnedCodec("lee2019")
    codec.configure(RunSettings(weights={"lee2019": str(path)}))
    img = _image()
    enc = codec.encode(img, 0)
    assert enc.settings["drift_check"] == "forward"
    assert codec.decode(enc.data).shape == img.shape
