"""BD-rate and BD-quality through the bjontegaard package, on cases with known answers."""

from __future__ import annotations

import math

import pytest

from codeccmp.sweep.bdrate import bd, clean_curve

RATES = [0.1, 0.2, 0.3, 0.45, 0.6, 0.8]
PSNR = [24.1, 26.8, 28.4, 30.0, 31.2, 32.5]


@pytest.mark.parametrize("method", ["akima", "pchip"])
def test_rate_scaled_by_0_8_is_minus_20_percent(method: str) -> None:
    """Same quality at 0.8× the rate everywhere: BD-rate is exactly −20 %."""
    res = bd(RATES, PSNR, [0.8 * r for r in RATES], PSNR, method=method)
    assert res.rate == pytest.approx(-20.0, abs=0.1)
    assert res.rate == pytest.approx(-20.0, abs=1e-9)  # in fact exact
    assert res.reason is None and res.method == method
    # and the anchor against itself is zero
    assert bd(RATES, PSNR, RATES, PSNR, method=method).rate == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("method", ["akima", "pchip"])
def test_quality_shift_is_the_bd_quality(method: str) -> None:
    res = bd(RATES, PSNR, RATES, [q + 0.7 for q in PSNR], method=method)
    assert res.quality == pytest.approx(0.7, abs=1e-9)
    assert res.rate < 0  # better quality at every rate: fewer bits for the same quality


def test_rate_doubling_is_plus_100_percent() -> None:
    res = bd(RATES, PSNR, [2 * r for r in RATES], PSNR)
    assert res.rate == pytest.approx(100.0, abs=1e-9)


def test_order_and_duplicates_do_not_matter() -> None:
    shuffled = list(zip(RATES, PSNR, strict=True))[::-1]
    r = [a for a, _ in shuffled] + [RATES[2]]
    q = [b for _, b in shuffled] + [PSNR[2]]
    res = bd(RATES, PSNR, [0.8 * x for x in r], q)
    assert res.rate == pytest.approx(-20.0, abs=1e-9)
    assert any("dropped" in n for n in res.notes)


def test_too_few_points_is_nan_with_reason() -> None:
    res = bd(RATES[:3], PSNR[:3], RATES, PSNR)
    assert math.isnan(res.rate) and math.isnan(res.quality)
    assert "needs 4" in res.reason and "anchor has 3" in res.reason
    assert res.to_dict()["bd_rate_percent"] is None


def test_disjoint_curves_are_nan_with_reason() -> None:
    # Quality ranges do not overlap, nor do rate ranges.
    res = bd(RATES, PSNR, [10 * r for r in RATES], [q + 20 for q in PSNR])
    assert math.isnan(res.rate) and math.isnan(res.quality)
    assert res.reason == "curves do not overlap"


def test_partial_overlap_is_computed_with_a_note() -> None:
    """1.6× the rate shifts the curve by 0.2 of its 0.9 decades: the rate ranges overlap
    by less than the package's 75 % — computed, with the share reported."""
    res = bd(RATES, PSNR, [r * 1.6 for r in RATES], PSNR)
    assert res.rate == pytest.approx(60.0, abs=1e-9)
    assert res.rate_overlap == pytest.approx(1.0)  # same qualities
    assert math.isfinite(res.quality) and res.quality < 0
    span = math.log10(0.8 / 0.1)
    assert res.quality_overlap == pytest.approx((span - math.log10(1.6)) /
                                                (span + math.log10(1.6)))
    assert res.overlap_note() == f"BD-quality over {res.quality_overlap:.0%} of the joint range"
    assert res.to_dict()["quality_overlap"] == pytest.approx(res.quality_overlap)


def test_non_monotone_points_are_dropped() -> None:
    r, q, notes = clean_curve([0.1, 0.2, 0.3, 0.4, 0.5], [20, 22, 21.5, 24, float("nan")])
    assert r == [0.1, 0.2, 0.4] and q == [20, 22, 24]
    assert len(notes) == 2


def test_bd_table_against_a_published_reference() -> None:
    """A reference curve as anchor, and as a test curve, beside measured averaged points."""
    from codeccmp.sweep.average import AveragePoint
    from codeccmp.sweep.bd import bd_table

    ms_db = [q / 3 for q in PSNR]
    points = [AveragePoint("mine", "traditional", "quality", i, 2, 2, bpp=0.8 * r, psnr=q,
                           ms_ssim_db=m) for i, (r, q, m) in enumerate(zip(RATES, PSNR, ms_db,
                                                                              strict=True))]
    ref = {"bpp": RATES, "psnr": PSNR, "ms_ssim_db": ms_db}
    table = bd_table(points, ["mine"], "ref:vtm", "akima", {"ref:vtm": ref})
    for metric in ("psnr", "ms_ssim_db"):
        assert list(table[metric]) == ["mine"]
        assert table[metric]["mine"]["bd_rate_percent"] == pytest.approx(-20.0, abs=1e-9)
    # The codec as anchor: the reference needs 1/0.8 the bits, +25 %.
    table = bd_table(points, ["mine"], "mine", "akima", {"ref:vtm": ref})
    assert table["psnr"]["ref:vtm"]["bd_rate_percent"] == pytest.approx(25.0, abs=1e-9)
    # A published curve with gaps (paper files give only some metrics) is read around them.
    gappy = {"bpp": RATES, "psnr": [None] * len(RATES), "ms_ssim_db": ms_db}
    table = bd_table(points, ["mine"], "ref:p", "akima", {"ref:p": gappy})
    assert table["psnr"]["mine"]["bd_rate_percent"] is None
    assert table["ms_ssim_db"]["mine"]["bd_rate_percent"] == pytest.approx(-20.0, abs=1e-9)
