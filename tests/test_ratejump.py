"""The rate search's neighbours: a PSNR jump of more than 1 dB next to the chosen parameter is
named in the notes (the JPEG XL row at 0.3 bpp sat below libjxl's switch to 2x2 resampling).

The codec here is made up so every answer is known: quality q writes q·64 bytes of a
100×100 grey image (q·64·8 / 10⁴ bpp) and decodes to the image plus a fixed pattern of
amplitude a(q), so PSNR = 20·log10(255 / RMS) moves by exactly 20·log10 of the amplitude
ratio between neighbours: smooth steps of 0.1 dB, and one step of 3 dB where asked.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from codeccmp.codec import Codec, Encoded, ParamSpace
from codeccmp.measure.metrics import psnr
from codeccmp.pipeline.ratejump import JUMP_DB, REACH, find_jump, jump_note

IMG = np.full((100, 100), 128, np.uint8)
# ±1 checkerboard: RMS 1 per unit amplitude, and exact in 8 bits for integer amplitudes.
PATTERN = np.where((np.indices(IMG.shape).sum(axis=0) % 2) == 0, 1.0, -1.0)


class Stepped(Codec):
    name = "stepped"
    family = "traditional"
    param_space = ParamSpace("quality", "integer", 1, 60)

    def __init__(self, jump_at: int | None = None, jump_db: float = 3.0) -> None:
        self.jump_at, self.jump_db = jump_at, jump_db
        self.encodes: list[int] = []

    def amplitude(self, q: int) -> float:
        """Falls 0.1 dB per step; from ``jump_at`` on, ``jump_db`` lower in one step."""
        db = 0.1 * q + (self.jump_db if self.jump_at is not None and q >= self.jump_at else 0)
        return 40.0 * 10 ** (-db / 20)

    def library(self) -> dict[str, str]:
        return {}

    def encode(self, image: np.ndarray, param: int) -> Encoded:
        self.encodes.append(int(param))
        return chosen(param)

    def decode(self, data: bytes) -> np.ndarray:
        q = int.from_bytes(data[:2], "big")
        return np.clip(128 + self.amplitude(q) * PATTERN, 0, 255).astype(np.uint8)


def chosen(q: int) -> Encoded:
    """The bitstream of quality ``q`` (as the rate search hands it over: not an encode)."""
    return Encoded(int(q).to_bytes(2, "big") * (32 * int(q)), int(q))


def _bpp(q: int) -> float:
    return q * 64 * 8 / IMG.size


def test_the_made_up_codec_is_what_the_docstring_says() -> None:
    c = Stepped(jump_at=21)
    p = {q: psnr(IMG, c.decode(c.encode(IMG, q).data)) for q in (10, 11, 20, 21)}
    # 8-bit rounding of the amplitude (integers around 26-40 here) moves each PSNR by at
    # most 20·log10(1 + 0.5/26) = 0.17 dB.
    assert p[11] - p[10] == pytest.approx(0.1, abs=0.35)
    assert p[21] - p[20] == pytest.approx(3.1, abs=0.35)


def test_a_jump_next_to_the_chosen_quality_is_found_and_named() -> None:
    c = Stepped(jump_at=21)
    found = find_jump(c, IMG, chosen(19), _bpp(19), 0.1)  # 20 (1.024 bpp) within 10 % of 0.973
    assert found is not None
    (a, bpp_a, psnr_a), (b, bpp_b, psnr_b) = found
    assert (a, b) == (20, 21) and bpp_b == _bpp(21)
    assert psnr_b - psnr_a > JUMP_DB
    note = jump_note(c, found, 19)
    assert note.startswith(
        f"PSNR jumps by {psnr_b - psnr_a:.1f} dB between quality 20 ({_bpp(20):.3f} bpp, "
        f"{psnr_a:.2f} dB) and 21 ({_bpp(21):.3f} bpp, {psnr_b:.2f} dB), 1 step above the "
        "chosen quality 19: the encoder switches strategy there"), note
    # Cheap: the two far ends, then a bisection of the span with the jump.
    assert len(c.encodes) <= 2 + math.ceil(math.log2(REACH))
    assert 19 not in c.encodes


def test_the_note_places_the_jump_against_the_chosen_value() -> None:
    """"Next to the chosen quality" was read as the neighbouring value when the pair was
    five steps away (JPEG XL at 0.3 bpp: 18 and 19 against 13): the note says where."""
    c = Stepped()
    pair = ((18, 0.359, 25.28), (19, 0.321, 27.79))
    assert ", 5 steps above the chosen quality 13:" in jump_note(c, pair, 13)
    assert ", 2 steps below the chosen quality 21:" in jump_note(c, pair, 21)
    assert "between the chosen quality 18 (0.359 bpp, 25.28 dB) and 19 (0.321 bpp" in \
        jump_note(c, pair, 18)
    assert "and the chosen quality 19 (0.321 bpp, 27.79 dB): the encoder" in \
        jump_note(c, pair, 19)


def test_a_smooth_codec_gets_no_note_for_two_encodes() -> None:
    c = Stepped()
    assert find_jump(c, IMG, chosen(30), _bpp(30), 0.1) is None
    # The chosen quality's bitstream is the rate search's: only the two far ends are encoded.
    assert c.encodes == [30 - REACH, 30 + REACH]


def test_small_steps_that_add_up_are_not_a_jump() -> None:
    """0.2 dB a step over 6 steps is 1.2 dB from end to end, more than JUMP_DB, yet no two
    neighbours differ by more than 0.2 dB (+ 0.17 rounding): the bisection finds no jump."""
    c = Stepped()
    c.amplitude = lambda q: 40.0 * 10 ** (-0.2 * q / 20)
    assert find_jump(c, IMG, chosen(31), _bpp(31), 0.1) is None
    # And it stops early: the amplitudes (22.5 at 25, 21.0 at 28, 19.6 at 31, 17.1 at 37)
    # are cut to 8-bit integers, so PSNR moves 0.94 dB over 31..37 (nothing to bisect) and
    # 1.24 dB over 25..31, whose halves move 0.81 and 0.43 dB: neither can hold a jump, so
    # no probe inside them (a bisection down to neighbours probed 26 and 27 as well).
    assert c.encodes == [31 - REACH, 28, 31 + REACH]


def test_a_jump_beyond_reach_or_far_from_the_target_rate_is_not_named() -> None:
    assert find_jump(Stepped(jump_at=19 + REACH + 2), IMG, chosen(19), _bpp(19), 0.1) is None
    # Within reach, but both sides of the jump (q 20, 21: 1.02, 1.08 bpp) are more than
    # 10 % away from the target of 0.8 bpp.
    assert find_jump(Stepped(jump_at=21), IMG, chosen(16), 0.8, 0.1) is None


def test_a_small_jump_is_not_named() -> None:
    assert find_jump(Stepped(jump_at=21, jump_db=0.5), IMG, chosen(19), _bpp(19), 0.1) is None


def test_coarse_or_continuous_parameters_are_not_checked() -> None:
    c = Stepped(jump_at=3)
    c.param_space = ParamSpace("quality", "integer", 1, 8)  # a learned model's few qualities
    assert find_jump(c, IMG, chosen(2), _bpp(2), 0.5) is None and c.encodes == []
    c.param_space = ParamSpace("rate", "continuous", 0.01, 4.0)
    assert find_jump(c, IMG, chosen(2), _bpp(2), 0.5) is None and c.encodes == []


def test_bitstreams_the_search_made_are_decoded_not_encoded_again() -> None:
    c = Stepped()
    known = {30 - REACH: chosen(30 - REACH), 28: chosen(28)}
    assert find_jump(c, IMG, chosen(30), _bpp(30), 0.1, known=known) is None
    assert c.encodes == [30 + REACH]  # the one far end the search had not encoded


def test_a_compare_encodes_no_parameter_twice() -> None:
    """The rate search's trials and the jump check's probes share their bitstreams (JPEG's
    quality 13 and HEIF's 25 on Barbara were encoded twice)."""
    from codeccmp.model.images import from_array
    from codeccmp.pipeline.compare import CompareOptions, search

    for jump_at in (None, 33):
        c = Stepped(jump_at=jump_at)
        coded = search(c, from_array(IMG), CompareOptions(_bpp(30) * 1.01, rois=None))
        assert coded.res.param == 30 and len(coded.res.trials) >= 2
        assert sorted(c.encodes) == sorted(set(c.encodes)), c.encodes
        assert {t["param"] for t in coded.res.trials} <= set(c.encodes)


class Counted(Stepped):
    """Notes the quality of every bitstream it decodes; the first ``fail`` decodes of
    quality 30 raise."""

    def __init__(self, jump_at: int | None = None, fail: int = 0) -> None:
        super().__init__(jump_at)
        self.decodes: list[int] = []
        self.fail = fail

    def decode(self, data: bytes) -> np.ndarray:
        q = int.from_bytes(data[:2], "big")
        self.decodes.append(q)
        if q == 30 and self.fail > 0:
            self.fail -= 1
            raise RuntimeError("decoder hiccup")
        return super().decode(data)


def test_a_compare_decodes_the_chosen_bitstream_once() -> None:
    """The jump check measures the chosen bitstream with the decode that becomes the result
    (it was made twice: seconds for a reference decoder run as a program)."""
    from codeccmp.model.images import from_array
    from codeccmp.pipeline.compare import CompareOptions, run_codec

    for jump_at in (None, 33):
        c = Counted(jump_at=jump_at)
        res = run_codec(c, from_array(IMG), CompareOptions(_bpp(30) * 1.01, rois=None))
        assert res.ok and res.param == 30 and res.decode_s is not None
        assert c.decodes.count(30) == 1, c.decodes
        assert np.array_equal(res.reconstruction, Stepped.decode(c, chosen(30).data))


def test_a_large_images_compare_decodes_when_it_measures() -> None:
    """``decode=False`` (a large image: no reconstruction held while the other codecs code):
    the search keeps only the bitstream, and the decode comes with ``decode_chosen``."""
    from codeccmp.model.images import from_array
    from codeccmp.pipeline.compare import CompareOptions, decode_chosen, search

    c = Counted()
    coded = search(c, from_array(IMG), CompareOptions(_bpp(30) * 1.01, rois=None),
                   decode=False)
    assert coded.recon is None and coded.encoded is not None
    before = c.decodes.count(30)
    res, recon = decode_chosen(coded)
    assert c.decodes.count(30) == before + 1 and res.decode_s is not None
    assert np.array_equal(recon, Stepped.decode(c, chosen(30).data))


def test_a_decode_that_fails_in_the_search_is_tried_again_and_reported_there() -> None:
    """The search's decode is an early copy of ``decode_chosen``'s: a failure there leaves
    the result to the decode that reports failures (``failed``, with the reason)."""
    from codeccmp.model.images import from_array
    from codeccmp.pipeline.compare import CompareOptions, run_codec

    opts = CompareOptions(_bpp(30) * 1.01, rois=None)
    res = run_codec(Counted(fail=1), from_array(IMG), opts)
    assert res.ok and res.param == 30, res.reason
    res = run_codec(Counted(fail=99), from_array(IMG), opts)
    assert res.status == "failed" and res.reason == "RuntimeError: decoder hiccup"
    assert res.param == 30  # coded, then failed to decode



def test_without_the_check_only_the_search_encodes_and_no_note_is_made() -> None:
    """--no-jump-check (a reference encoder takes minutes an encode): the rate search's own
    encodes only, no note, and the results say the check was off."""
    from codeccmp.model.images import from_array
    from codeccmp.pipeline.compare import CompareOptions, compare_image, search

    with_check = Stepped(jump_at=33)
    coded = search(with_check, from_array(IMG), CompareOptions(_bpp(30) * 1.01, rois=None))
    assert any("PSNR jumps by" in n for n in coded.res.notes)
    without = Stepped(jump_at=33)
    coded = search(without, from_array(IMG),
                   CompareOptions(_bpp(30) * 1.01, rois=None, jump_check=False))
    assert coded.res.param == 30 and not any("PSNR jumps" in n for n in coded.res.notes)
    assert sorted(without.encodes) == sorted(t["param"] for t in coded.res.trials)
    assert len(with_check.encodes) > len(without.encodes)

    class Registry:
        def get(self, name: str) -> Codec:
            return Stepped(jump_at=33)

        def all(self) -> list[Codec]:
            return [Stepped(jump_at=33)]

    for flag in (True, False):
        cmp = compare_image(from_array(IMG), Registry(),  # type: ignore[arg-type]
                            CompareOptions(_bpp(30) * 1.01, ["stepped"], rois=None,
                                           jump_check=flag, warm_up=False))
        assert cmp.settings["jump_check"] is flag
        assert any("PSNR jumps" in n for n in cmp.results[0].notes) is flag
        # a report says so, where the check was off
        from codeccmp.render.html import _summary
        from codeccmp.render.report import NO_JUMP_CHECK, render_report

        assert (NO_JUMP_CHECK in render_report(cmp, None)) is not flag
        assert ("Run with --no-jump-check" in _summary(cmp, [])) is not flag  # HTML-escaped


def test_the_cli_flag_reaches_compare_sweep_and_the_sweeps_cache_keys(
        cli, image_file, tmp_path) -> None:  # noqa: ANN001
    import json

    from codeccmp.sweep.tasks import measure_fingerprint

    for command, extra in (("compare", []), ("sweep", ["--cache-dir", str(tmp_path / "c")])):
        for flag, want in (("--no-jump-check", False), ("--jump-check", True)):
            r = cli(command, str(image_file), "--bpp", "1", "--codecs", "jpeg", "--roi",
                    "none", "-q", "--json", "-", flag, *extra)
            assert r.code == 0, r.stderr
            assert json.loads(r.stdout)["settings"]["jump_check"] is want
    # A result made without the check may lack a note one made with it has: other keys.
    # With it (the default) the keys stay those of sweeps made before the flag existed.
    assert measure_fingerprint() == measure_fingerprint(jump_check=True)
    assert "jump_check" not in measure_fingerprint()
    assert measure_fingerprint(jump_check=False) != measure_fingerprint()
