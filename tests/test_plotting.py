"""Tests for lectures_utils.plotting: every helper returns (fig, ax) and rejects bad input."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lectures_utils import History, PALETTE, image_grid, overlay_mask, plot_history, set_style, three_plane  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_set_style_applies_the_palette():
    set_style()
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    assert [c.lower() for c in colors] == [c.lower() for c in PALETTE]


def test_image_grid_layout_and_titles():
    images = [np.random.rand(8, 8) for _ in range(5)] + [torch.rand(1, 8, 8)]
    fig, axes = image_grid(images, titles=[f"im {i}" for i in range(6)], ncols=4)
    assert axes.shape == (2, 4)
    assert axes[0, 0].get_title() == "im 0"
    assert len(axes[1, 3].images) == 0  # unused panel is blank
    np.testing.assert_array_equal(axes[0, 1].images[0].get_array(), images[1])


@pytest.mark.parametrize("images, error, match", [
    ([], ValueError, "empty"),
    ([np.zeros((2, 2, 2, 2))], ValueError, "shape"),
    ([np.zeros((0, 4))], ValueError, "empty"),
    ([np.array([["a", "b"]])], TypeError, "numeric"),
])
def test_image_grid_rejects_bad_images(images, error, match):
    with pytest.raises(error, match=match):
        image_grid(images)


def test_image_grid_title_count_must_match():
    with pytest.raises(ValueError, match="titles"):
        image_grid([np.zeros((4, 4))], titles=["a", "b"])


def test_overlay_mask_colours_labelled_pixels_only():
    image = np.zeros((10, 10))
    mask = np.zeros((10, 10), dtype=np.int64)
    mask[2:4, 2:4] = 1
    mask[6:8, 6:8] = 2
    fig, ax = overlay_mask(image, mask, labels={1: "organ", 2: "lesion"})
    rgba = ax.images[1].get_array()
    assert rgba[0, 0, 3] == 0 and rgba[2, 2, 3] > 0 and rgba[6, 6, 3] > 0
    assert not np.allclose(rgba[2, 2], rgba[6, 6])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["organ", "lesion"]


def test_overlay_mask_rejects_mismatched_or_fractional_masks():
    with pytest.raises(ValueError, match="does not match"):
        overlay_mask(np.zeros((10, 10)), np.zeros((10, 9), dtype=int))
    with pytest.raises(TypeError, match="integer labels"):
        overlay_mask(np.zeros((4, 4)), np.full((4, 4), 0.5))
    with pytest.raises(ValueError, match=">= 0"):
        overlay_mask(np.zeros((4, 4)), -np.ones((4, 4), dtype=int))


def test_three_plane_uses_the_spacing_for_aspect():
    volume = np.random.rand(20, 30, 40)
    fig, axes = three_plane(volume, spacing=(1.0, 1.0, 3.0))
    assert len(axes) == 3
    # plane 0 shows axes (1, 2): aspect = spacing[2] / spacing[1]
    assert axes[0].get_aspect() == pytest.approx(3.0)
    assert axes[2].get_aspect() == pytest.approx(1.0)
    assert axes[0].images[0].get_array().shape == (40, 30)


@pytest.mark.parametrize("kwargs, match", [
    ({"volume": np.zeros((4, 4))}, "3D"),
    ({"volume": np.zeros((4, 4, 4)), "spacing": (1, 1)}, "spacing"),
    ({"volume": np.zeros((4, 4, 4)), "spacing": (1, 0, 1)}, "spacing"),
    ({"volume": np.zeros((4, 4, 4)), "index": (9, 0, 0)}, "outside"),
])
def test_three_plane_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        three_plane(**kwargs)


def test_plot_history_draws_every_series():
    h = History()
    for v in (1.0, 0.5, 0.25):
        h.append("train_loss", v); h.append("val_loss", v + 0.1); h.append("val_dice", 1 - v)
    fig, ax = plot_history(h)
    assert [line.get_label() for line in ax.get_lines()] == ["train_loss", "val_loss"]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [1.0, 0.5, 0.25])
    assert len(fig.axes) == 2  # the metric axis
    with pytest.raises(KeyError, match="val_acc"):
        plot_history(h, keys=["val_acc"])
    with pytest.raises(ValueError, match="non-empty"):
        plot_history({})


def test_overlay_mask_label_colours_do_not_depend_on_which_labels_are_present():
    from matplotlib import colors as mcolors

    from lectures_utils import LABEL_COLORS
    image = np.zeros((10, 10))
    only_csf = np.zeros((10, 10), dtype=np.int64)
    only_csf[1:3, 1:3] = 1
    with_lesion = only_csf.copy()
    with_lesion[6:8, 6:8] = 4
    names = {1: "CSF", 2: "GM", 3: "WM", 4: "lesion"}
    _, ax_a = overlay_mask(image, only_csf, labels=names)
    _, ax_b = overlay_mask(image, with_lesion, labels=names)
    for ax in (ax_a, ax_b):
        legend = {t.get_text(): p.get_facecolor() for t, p in zip(ax.get_legend().get_texts(), ax.get_legend().get_patches())}
        assert np.allclose(legend["lesion"][:3], mcolors.to_rgb(LABEL_COLORS[3]))
        assert not np.allclose(legend["lesion"][:3], legend["CSF"][:3])
    fill = ax_b.images[1].get_array()
    assert np.allclose(fill[6, 6, :3], mcolors.to_rgb(LABEL_COLORS[3]))


def test_overlay_mask_accepts_a_label_colour_map():
    mask = np.zeros((6, 6), dtype=np.int64)
    mask[:2] = 2
    _, ax = overlay_mask(np.zeros((6, 6)), mask, colors={2: "red"})
    assert np.allclose(ax.images[1].get_array()[0, 0, :3], (1.0, 0.0, 0.0))
    with pytest.raises(TypeError, match="colors"):
        overlay_mask(np.zeros((6, 6)), mask, colors=["red"])
