"""The book's figure-size policy (lectures_utils.plotting.MAX_FIGURE_WIDTH): after set_style(), no pyplot
figure is wider than the page's text column can show without shrinking its labels below 72 %."""

import matplotlib

matplotlib.use("Agg")

import io  # noqa: E402
import struct  # noqa: E402

import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from lectures_utils.plotting import MAX_FIGURE_WIDTH, fit_page_width, set_style  # noqa: E402


@pytest.fixture
def styled():
    with mpl.rc_context():
        set_style()
        yield
    plt.close("all")


def _png_width(fig) -> int:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return struct.unpack(">I", buffer.getvalue()[16:20])[0]


@pytest.mark.parametrize("size", [(15.0, 3.8), (17.0, 3.5), (11.0, 8.0)])
def test_wide_figures_are_capped(styled, size):
    fig, axes = plt.subplots(1, 4, figsize=size)
    for ax in axes:
        ax.plot([0, 1], [0, 1])
        ax.set(title="a title", xlabel="x (mm)", ylabel="y")
    width, height = fig.get_size_inches()
    assert width == pytest.approx(MAX_FIGURE_WIDTH)
    assert height == pytest.approx(size[1] * (MAX_FIGURE_WIDTH / size[0]) ** 0.5)
    # the inline backend renders at 100 dpi with a tight bounding box: at most ~1000 px wide
    assert _png_width(fig) <= MAX_FIGURE_WIDTH * 100 * 1.05


def test_figures_within_the_width_are_unchanged(styled):
    fig, _ = plt.subplots(figsize=(6.4, 4.0))
    assert tuple(fig.get_size_inches()) == pytest.approx((6.4, 4.0))
    fig = plt.figure(figsize=(MAX_FIGURE_WIDTH, 3.0))
    assert tuple(fig.get_size_inches()) == pytest.approx((MAX_FIGURE_WIDTH, 3.0))


def test_set_style_registers_the_hook_and_the_hook_works_alone():
    with mpl.rc_context():
        set_style()
        assert "lectures_utils.plotting:fit_page_width" in mpl.rcParams["figure.hooks"]
    with mpl.rc_context({"figure.hooks": []}):  # without the hook (other tests may call set_style)
        fig = plt.figure(figsize=(20.0, 5.0))
    assert fig.get_size_inches()[0] == pytest.approx(20.0)
    fit_page_width(fig)
    assert tuple(fig.get_size_inches()) == pytest.approx((MAX_FIGURE_WIDTH, 5.0 * 0.5 ** 0.5))
    plt.close("all")
