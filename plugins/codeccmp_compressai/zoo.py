"""The table of learned models this plugin knows: names, ids, qualities, zoo file names.

Everything here that the CLI needs at start-up (names, qualities, descriptions) is plain
data, so registering the codecs imports neither torch nor compressai. The zoo's download
URLs and file names are read from ``compressai.zoo.image.model_urls`` only when weights are
actually resolved, so they always follow the installed CompressAI.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any

#: Metrics a model can be trained for, in the order codecs are listed.
METRICS = ("ms-ssim", "mse")
#: The metric a bare architecture name refers to: this tool studies MS-SSIM models.
DEFAULT_METRIC = "ms-ssim"

#: Base URL of the zoo. ``None`` means CompressAI's own ``root_url``; tests and mirrors set
#: this or the ``CODECCMP_ZOO_URL`` environment variable (which wins).
ROOT_URL: str | None = None

#: Per-file overrides of the zoo file name, keyed by (arch, metric, quality). Empty in normal
#: use; tests put names here whose hash prefix matches the checkpoints they build.
FILE_OVERRIDES: dict[tuple[str, str, int], str] = {}

_HASH_RE = re.compile(r"-([0-9a-f]{8,})\.pth(?:\.tar)?$")


@dataclass(frozen=True)
class Arch:
    """One architecture: what the bitstream calls it and what it needs."""

    name: str
    #: Small integer written in the bitstream header (never reuse a number).
    model_id: int
    title: str
    #: Zoo qualities; empty for architectures without published weights.
    qualities: tuple[int, ...]
    #: Padding multiple when the loaded model does not say (``downsampling_factor`` wins).
    multiple: int
    #: Whether the CompressAI zoo publishes weights for it.
    zoo: bool = True
    #: Whether the eval-mode forward pass reconstructs exactly what the decoder will (used
    #: for the drift check when the model class does not say so with ``forward_is_exact``).
    forward_exact: bool = False

    def codec_name(self, metric: str) -> str:
        """``bmshj2018-factorized`` for MS-SSIM (the default), ``...-mse`` for MSE."""
        return self.name if metric == DEFAULT_METRIC else f"{self.name}-{metric}"


ARCHS: dict[str, Arch] = {
    a.name: a
    for a in (
        Arch("bmshj2018-factorized", 1, "Ballé et al. 2018, factorized prior",
             tuple(range(1, 9)), 16),
        Arch("bmshj2018-hyperprior", 2, "Ballé et al. 2018, scale hyperprior",
             tuple(range(1, 9)), 64),
        Arch("mbt2018-mean", 3, "Minnen et al. 2018, mean-scale hyperprior",
             tuple(range(1, 9)), 64),
        Arch("mbt2018", 4, "Minnen et al. 2018, joint autoregressive + hyperprior",
             tuple(range(1, 9)), 64),
        Arch("cheng2020-anchor", 5, "Cheng et al. 2020, anchor", tuple(range(1, 7)), 64),
        Arch("cheng2020-attn", 6, "Cheng et al. 2020, with attention", tuple(range(1, 7)), 64),
        Arch("bls2017", 7, "Ballé et al. 2017, end-to-end optimized (GDN, factorized)",
             (), 16, zoo=False, forward_exact=True),
        Arch("lee2019", 8, "Lee et al. 2019, context-adaptive entropy model",
             (), 64, zoo=False, forward_exact=True),
    )
}

ARCH_BY_ID: dict[int, Arch] = {a.model_id: a for a in ARCHS.values()}


def codec_names() -> list[str]:
    """Every codec name this plugin registers, MS-SSIM variants first per architecture."""
    return [a.codec_name(m) for a in ARCHS.values() for m in METRICS]


def split_codec_name(name: str) -> tuple[Arch, str]:
    """``bmshj2018-factorized-mse`` -> (Arch bmshj2018-factorized, "mse")."""
    if name in ARCHS:
        return ARCHS[name], DEFAULT_METRIC
    for metric in METRICS:
        suffix = f"-{metric}"
        if name.endswith(suffix) and name[: -len(suffix)] in ARCHS:
            return ARCHS[name[: -len(suffix)]], metric
    raise KeyError(name)


_IMPORT_LOCK = threading.Lock()
_IMPORTED = False


def import_compressai() -> Any:
    """Import compressai, hiding the FutureWarning its import-time ``torch.jit.script`` use
    triggers on recent torch (noise on every CLI run, nothing the user can act on).

    Thread-safe and complete on return: the pipeline may be importing it on its warm-up
    thread (``codeccmp.pipeline.warmup``) when a codec needs it, and a half-initialised
    ``compressai`` in ``sys.modules`` must not be handed out. Lean where it can be: without
    torch_geometric (``lean_import``).
    """
    global _IMPORTED
    import sys
    import warnings

    from codeccmp_compressai import lean_import

    with _IMPORT_LOCK:
        if not _IMPORTED:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*",
                                        category=FutureWarning)
                lean = lean_import.lean_import_possible()
                if lean:
                    try:
                        with lean_import.without_torch_geometric():
                            _import_compressai_modules()
                    except Exception:  # a release reading more of it: import it all
                        lean_import.forget("compressai")
                        lean = False
                if not lean:
                    _import_compressai_modules()
            _IMPORTED = True
    return sys.modules["compressai"]


def _import_compressai_modules() -> None:
    import compressai  # noqa: F401
    import compressai.models
    import compressai.zoo.image  # noqa: F401


def root_url() -> str:
    """Where zoo files are downloaded from (env ``CODECCMP_ZOO_URL``, ``ROOT_URL``, CompressAI)."""
    env = os.environ.get("CODECCMP_ZOO_URL")
    if env:
        return env.rstrip("/")
    if ROOT_URL:
        return ROOT_URL.rstrip("/")
    return _zoo_table()[0].rstrip("/")


_TABLE: tuple[str, dict[str, Any]] | None = None


def _zoo_table() -> tuple[str, dict[str, Any]]:
    """CompressAI's ``(root_url, model_urls)``, read from its source without importing it.

    ``codeccmp codecs`` lists where every model's weights would come from and must not pay
    for importing compressai (seconds: it pulls in torchvision and torch_geometric), so the
    two literals are read from ``compressai/zoo/image.py`` with ``ast``. If that file ever
    stops being plain literals, we fall back to importing it; a test checks both agree.
    """
    global _TABLE
    if _TABLE is None:
        _TABLE = _parse_zoo_source() or _import_zoo_table()
    return _TABLE


def _import_zoo_table() -> tuple[str, dict[str, Any]]:
    import_compressai()
    from compressai.zoo.image import model_urls
    from compressai.zoo.image import root_url as compressai_root

    return str(compressai_root), model_urls


def _parse_zoo_source() -> tuple[str, dict[str, Any]] | None:
    import ast
    import importlib.util
    from pathlib import Path

    try:
        spec = importlib.util.find_spec("compressai")  # locates, does not import
        if spec is None or not spec.submodule_search_locations:
            return None
        source = Path(list(spec.submodule_search_locations)[0]) / "zoo" / "image.py"
        tree = ast.parse(source.read_text(encoding="utf-8"))
        env: dict[str, Any] = {}
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in ("root_url", "model_urls")
            ):
                env[node.targets[0].id] = _literal(node.value, env)
        return str(env["root_url"]), dict(env["model_urls"])
    except Exception:  # anything unexpected: import the module instead
        return None


def _literal(node: Any, env: dict[str, Any]) -> Any:
    """Evaluate constants, dicts and f-strings over names already in ``env``; nothing else."""
    import ast

    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Dict):
        return {_literal(k, env): _literal(v, env) for k, v in zip(node.keys, node.values,
                                                                   strict=True)}
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            if isinstance(v, ast.FormattedValue) and isinstance(v.value, ast.Name):
                parts.append(str(env[v.value.id]))
            else:
                parts.append(str(_literal(v, env)))
        return "".join(parts)
    raise ValueError(f"not a literal: {ast.dump(node)[:80]}")


def _compressai_urls() -> dict[str, Any]:
    return _zoo_table()[1]


def zoo_filename(arch: str, metric: str, quality: int) -> str | None:
    """The zoo's own file name (``...-<sha256 prefix>.pth.tar``), or None if not published."""
    override = FILE_OVERRIDES.get((arch, metric, quality))
    if override:
        return override
    if not ARCHS[arch].zoo:
        return None
    url = _compressai_urls().get(arch, {}).get(metric, {}).get(quality)
    return url.rsplit("/", 1)[-1] if url else None


def zoo_url(arch: str, metric: str, quality: int) -> str | None:
    """Download URL: the zoo file name under :func:`root_url`."""
    name = zoo_filename(arch, metric, quality)
    return f"{root_url()}/{name}" if name else None


def hash_prefix(filename: str) -> str | None:
    """The sha256 prefix torch.hub-style names end with (``...-446d5c7f.pth.tar``)."""
    m = _HASH_RE.search(filename)
    return m.group(1) if m else None


def plain_filename_re(arch: str, metric: str) -> re.Pattern[str]:
    """Names for weights without a zoo file name: ``<arch>-<metric>-<quality>.pth[.tar]``."""
    return re.compile(rf"^{re.escape(arch)}-{re.escape(metric)}-(\d+)\.pth(?:\.tar)?$")
