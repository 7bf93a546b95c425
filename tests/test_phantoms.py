"""Tests for lectures_utils.phantoms: determinism, labels, lesions, scanners, dataset, bad input."""

import numpy as np
import pytest
import torch

from lectures_utils.phantoms import (
    LABELS,
    SCANNERS,
    TISSUES,
    Anatomy,
    PhantomDataset,
    ScannerProfile,
    get_scanner,
    make_anatomy,
    make_scan,
    make_scans,
    random_scanner,
    render,
)

FLAVOURS = ("geometric", "brain")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_same_seed_same_scan_and_different_seed_different(flavour):
    image_a, labels_a = make_scan(flavour, (64, 64), "T1", seed=7)
    image_b, labels_b = make_scan(flavour, (64, 64), "T1", seed=7)
    image_c, labels_c = make_scan(flavour, (64, 64), "T1", seed=8)
    np.testing.assert_array_equal(image_a, image_b)
    np.testing.assert_array_equal(labels_a, labels_b)
    assert not np.array_equal(labels_a, labels_c)
    assert not np.array_equal(image_a, image_c)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_labels_types_and_values(flavour):
    anatomy = make_anatomy(flavour, (48, 56), seed=3, lesion_rate=3)
    assert anatomy.labels.dtype == np.int64 and anatomy.labels.shape == (48, 56)
    assert set(np.unique(anatomy.labels)) <= set(LABELS[flavour])
    assert len(np.unique(anatomy.labels)) >= 4  # background plus several tissues
    np.testing.assert_allclose(anatomy.fractions.sum(axis=0), 1.0, atol=1e-5)
    assert anatomy.fractions.min() >= -1e-6
    np.testing.assert_array_equal(anatomy.labels, anatomy.fractions.argmax(axis=0))
    assert len(anatomy.spacing) == 2 and min(anatomy.spacing) > 0


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_3d_volumes(flavour):
    image, labels = make_scan(flavour, (16, 32, 32), "T2", seed=1, lesion_rate=2)
    assert image.shape == labels.shape == (16, 32, 32)
    assert image.dtype == np.float32 and np.isfinite(image).all()
    assert set(np.unique(labels)) <= set(LABELS[flavour])
    assert len(np.unique(labels[8])) >= 3


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_lesion_frequency_follows_its_parameter(flavour):
    lesion = max(LABELS[flavour])

    def lesion_stats(rate, radius=(1.5, 3.0)):
        _, labels = make_scans(40, flavour, (48, 48), seed=11, lesion_rate=rate, lesion_radius=radius)
        return (labels == lesion).mean(), (labels == lesion).any(axis=(1, 2)).mean()

    none, with_none = lesion_stats(0.0)
    few, with_few = lesion_stats(0.5)
    many, with_many = lesion_stats(4.0)
    assert none == 0 and with_none == 0
    assert 0 < few < many
    assert with_few < with_many
    # the expected share of scans with at least one lesion is 1 - exp(-rate)
    assert abs(with_few - (1 - np.exp(-0.5))) < 0.2
    bigger, _ = lesion_stats(4.0, radius=(3.0, 5.0))
    assert bigger > many


def test_same_seed_other_scanner_same_labels():
    _, labels_t1 = make_scan("brain", (64, 64), "T1", seed=5)
    images, labels_multi = make_scan("brain", (64, 64), ["T1", "T2", "FLAIR"], seed=5)
    np.testing.assert_array_equal(labels_t1, labels_multi)
    assert images.shape == (3, 64, 64)


@pytest.mark.parametrize("name", sorted(SCANNERS))
def test_every_scanner_renders_finite_values(name):
    for flavour in FLAVOURS:
        image, _ = make_scan(flavour, (40, 40), name, seed=2, lesion_rate=1)
        assert image.dtype == np.float32 and np.isfinite(image).all() and image.std() > 0


def test_random_scanners_render_finite_and_differ():
    profiles = [random_scanner(seed) for seed in range(5)]
    anatomy = make_anatomy("brain", (40, 40), seed=0)
    images = [render(anatomy, profile, seed=0) for profile in profiles]
    assert all(np.isfinite(image).all() for image in images)
    assert not np.allclose(images[0], images[1])
    assert random_scanner(3).tissue_means == random_scanner(3).tissue_means


def _tissue_means(scanner, flavour="brain"):
    images, labels = make_scans(12, flavour, (64, 64), scanner, seed=21, lesion_rate=3, lesion_radius=(2.0, 3.5))
    names = LABELS[flavour]
    return {names[k]: float(images[labels == k].mean()) for k in names if (labels == k).any()}


def test_contrast_ordering_per_sequence():
    t1 = _tissue_means("T1")
    assert t1["wm"] > t1["gm"] > t1["csf"] > t1["background"]
    assert t1["lesion"] < t1["wm"]
    t2 = _tissue_means("T2")
    assert t2["csf"] > t2["gm"] > t2["wm"]
    assert t2["lesion"] > t2["wm"]
    flair = _tissue_means("FLAIR")
    assert flair["lesion"] > flair["gm"] > flair["wm"] > flair["csf"]
    pd = _tissue_means("PD")
    assert pd["gm"] > pd["wm"]
    low = _tissue_means("T1_lowfield")
    assert low["wm"] > low["gm"] > low["csf"]
    body = _tissue_means("T1", "geometric")
    assert body["body"] > body["liver"] > body["spleen"]


def test_render_without_artefacts_is_the_tissue_mean_map():
    clean = SCANNERS["T1"].with_changes(tissue_std=0.0, bias_strength=0.0, noise_std=0.0, blur_sigma=0.0)
    anatomy = make_anatomy("geometric", (32, 32), seed=4, lesion_rate=0)
    image = render(anatomy, clean, seed=0)
    expected = np.tensordot(clean.means_for("geometric"), anatomy.fractions, axes=1)
    np.testing.assert_allclose(image, expected, atol=1e-6)
    pure = anatomy.fractions.max(axis=0) > 0.999
    np.testing.assert_allclose(image[pure], clean.means_for("geometric")[anatomy.labels[pure]], atol=1e-5)


def test_background_noise_is_rician():
    # Zero signal plus complex Gaussian noise of std s has a Rayleigh magnitude with mean s*sqrt(pi/2).
    sigma = 0.05
    profile = SCANNERS["T1"].with_changes(tissue_std=0.0, bias_strength=0.0, noise_std=sigma, blur_sigma=0.0, gain=1.0, offset=0.0)
    anatomy = make_anatomy("geometric", (128, 128), seed=0, lesion_rate=0)
    image = render(anatomy, profile, seed=1)
    background = image[anatomy.fractions[0] > 0.999]
    assert background.size > 1000
    assert abs(background.mean() - sigma * np.sqrt(np.pi / 2)) < 0.05 * sigma * np.sqrt(np.pi / 2)


def test_gain_and_offset_are_linear():
    anatomy = make_anatomy("brain", (32, 32), seed=2)
    base = SCANNERS["T2"].with_changes(gain=1.0, offset=0.0)
    scaled = base.with_changes(gain=2.5, offset=0.3)
    np.testing.assert_allclose(render(anatomy, scaled, 9), 2.5 * render(anatomy, base, 9) + 0.3, atol=1e-5)


def test_brain_levels_follow_level_range():
    low = make_anatomy("brain", (48, 48), seed=0, level_range=(0.1, 0.1))
    high = make_anatomy("brain", (48, 48), seed=0, level_range=(0.9, 0.9))
    assert low.info["level"] == 0.1 and high.info["level"] == 0.9
    assert not np.array_equal(low.labels, high.labels)
    template = make_anatomy("brain", (48, 48), seed=0, deformation=0.0, lesion_rate=0)
    again = make_anatomy("brain", (48, 48), seed=1, deformation=0.0, lesion_rate=0, level_range=(template.info["level"],) * 2)
    np.testing.assert_array_equal(template.labels, again.labels)  # no deformation: the template itself


def test_make_scans_prefix_is_stable_and_matches_dataset():
    images_5, labels_5 = make_scans(5, "geometric", (32, 32), "FLAIR", seed=3)
    images_3, labels_3 = make_scans(3, "geometric", (32, 32), "FLAIR", seed=3)
    np.testing.assert_array_equal(images_5[:3], images_3)
    dataset = PhantomDataset(5, "geometric", (32, 32), "FLAIR", seed=3, normalise=False)
    image, labels = dataset[4]
    np.testing.assert_array_equal(image[0].numpy(), images_5[4])
    np.testing.assert_array_equal(labels.numpy(), labels_5[4])


def test_dataset_items_shapes_dtypes_and_normalisation():
    dataset = PhantomDataset(6, "brain", (64, 64), ["T1", "T2"], seed=0)
    assert len(dataset) == 6 and dataset.in_channels == 2 and dataset.num_classes == 5
    image, labels = dataset[2]
    assert image.shape == (2, 64, 64) and image.dtype == torch.float32
    assert labels.shape == (64, 64) and labels.dtype == torch.int64
    assert torch.allclose(image.mean(dim=(1, 2)), torch.zeros(2), atol=1e-4)
    assert torch.allclose(image.std(dim=(1, 2), unbiased=False), torch.ones(2), atol=1e-3)
    torch.testing.assert_close(dataset[-1][1], dataset[5][1])
    loader = torch.utils.data.DataLoader(dataset, batch_size=3)
    batch_images, batch_labels = next(iter(loader))
    assert batch_images.shape == (3, 2, 64, 64) and batch_labels.shape == (3, 64, 64)
    with pytest.raises(IndexError):
        dataset[6]
    other = PhantomDataset(6, "brain", (64, 64), "T1", seed=1)
    assert not torch.equal(other[0][1], dataset[0][1])


def test_dataset_tensors_stack_the_items():
    dataset = PhantomDataset(4, "brain", (32, 32), ["T1", "FLAIR"], seed=5)
    images, labels = dataset.tensors()
    assert images.shape == (4, 2, 32, 32) and images.dtype == torch.float32
    assert labels.shape == (4, 32, 32) and labels.dtype == torch.int64
    for i in range(4):
        assert torch.equal(images[i], dataset[i][0]) and torch.equal(labels[i], dataset[i][1])


def test_dataset_cache_and_random_scanner():
    cached = PhantomDataset(3, "geometric", (32, 32), "random", seed=0, cache=True)
    first = cached[1]
    assert cached[1] is first
    fresh = PhantomDataset(3, "geometric", (32, 32), "random", seed=0)
    torch.testing.assert_close(fresh[1][0], first[0])
    assert not torch.allclose(fresh[0][0], fresh[1][0])


def test_3d_dataset():
    dataset = PhantomDataset(2, "brain", (16, 32, 32), "T1", seed=0)
    image, labels = dataset[0]
    assert image.shape == (1, 16, 32, 32) and labels.shape == (16, 32, 32)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: get_scanner("T3"), ValueError, "expected one of"),
        (lambda: get_scanner("random"), ValueError, "random_scanner"),
        (lambda: get_scanner(3), TypeError, "ScannerProfile"),
        (lambda: make_scan("liver"), ValueError, "flavour"),
        (lambda: make_scan("brain", (64,)), ValueError, "shape"),
        (lambda: make_scan("brain", (64, 64.0)), TypeError, "ints"),
        (lambda: make_scan("brain", (4, 64)), ValueError, "shape"),
        (lambda: make_scan("brain", (64, 64), scanner="MRI"), ValueError, "scanner"),
        (lambda: make_scan("brain", (64, 64), scanner=[]), TypeError, "scanner"),
        (lambda: make_scan("brain", seed=-1), ValueError, "seed"),
        (lambda: make_scan("brain", seed=1.5), TypeError, "seed"),
        (lambda: make_scan("brain", lesion_rate=-1), ValueError, "lesion_rate"),
        (lambda: make_scan("brain", lesion_radius=(3, 1)), ValueError, "lesion_radius"),
        (lambda: make_scan("brain", level_range=(0.2, 1.5)), ValueError, "level_range"),
        (lambda: make_scans(0), ValueError, "n must"),
        (lambda: make_scans(2, lesion_size=3), TypeError, "unknown keyword"),
        (lambda: render(np.zeros((8, 8)), "T1"), TypeError, "Anatomy"),
        (lambda: PhantomDataset(0), ValueError, "n must"),
        (lambda: PhantomDataset(2, scanner="nope"), ValueError, "scanner"),
        (lambda: SCANNERS["T1"].with_changes(noise_std=-0.1), ValueError, "noise_std"),
        (lambda: SCANNERS["T1"].with_changes(resolution=0.5), ValueError, "resolution"),
        (lambda: SCANNERS["T1"].with_changes(colour=1), ValueError, "unknown"),
        (lambda: ScannerProfile("x", "T1", {"wm": 1.0}), ValueError, "missing"),
        (lambda: ScannerProfile("x", "CT", dict.fromkeys(TISSUES, 0.5)), ValueError, "sequence"),
    ],
)
def test_bad_input_is_rejected(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_anatomy_shape_mismatch_is_rejected():
    anatomy = make_anatomy("geometric", (16, 16), seed=0)
    broken = Anatomy("brain", anatomy.labels, anatomy.fractions, anatomy.spacing)
    with pytest.raises(ValueError, match="fractions"):
        render(broken, "T1")


def test_random_scanner_tissue_means_stay_in_the_documented_range():
    means = np.array([[m for t, m in random_scanner(seed).tissue_means.items() if t != "background"]
                      for seed in range(200)])
    assert means.min() >= 0.05 and means.max() <= 1.0
    assert means.min() < 0.1 and means.max() > 0.95  # the whole range is used
