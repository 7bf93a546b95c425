"""Tests for lectures_utils.data: each loader against the library that owns the file."""

import socket
import subprocess
import sys

import nibabel as nib
import numpy as np
import pydicom
import pytest
from nibabel.testing import data_path
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut

from lectures_utils import data
from lectures_utils.data import (
    DICOM_FILES,
    dicom_path,
    dicom_spacing,
    dicom_to_hounsfield,
    list_datasets,
    load_breast_cancer_table,
    load_chest_xray,
    load_ct_slice,
    load_digits_images,
    load_ecg,
    load_head_mr,
    load_mni152,
    load_mr_slice,
    load_mri_volume,
    load_nifti,
    load_retina,
    load_shepp_logan,
    load_shoulder_mr,
    load_ultrasound,
    read_dicom,
)


def _reference(name):
    return pydicom.dcmread(get_testdata_file(name, download=False))


def test_ct_slice_in_hounsfield_units_matches_pydicom():
    ct = load_ct_slice()
    ds = _reference("CT_small.dcm")
    np.testing.assert_allclose(ct.pixels, apply_modality_lut(ds.pixel_array, ds), atol=0)
    assert ct.units == "HU" and ct.modality == "CT" and ct.shape == (128, 128)
    assert ct.spacing == (float(ds.PixelSpacing[0]), float(ds.PixelSpacing[1]))
    assert ct.metadata["rescale_intercept"] == float(ds.RescaleIntercept) == -1024.0
    assert ct.licence and ct.source


def test_mr_slices_and_spacing_from_pixel_spacing():
    for loader, name, shape in ((load_mr_slice, "MR_small.dcm", (64, 64)), (load_shoulder_mr, "MR2_UNCR.dcm", (1024, 1024))):
        image = loader()
        ds = _reference(name)
        assert image.shape == shape and image.pixels.dtype == np.float32
        assert image.spacing == tuple(float(v) for v in ds.PixelSpacing)
        np.testing.assert_array_equal(image.pixels, ds.pixel_array.astype(np.float32))


def test_ecg_matches_pydicom_waveform_array_with_sensitivity():
    ecg = load_ecg()
    ds = _reference("waveform_ecg.dcm")
    reference_uv = ds.waveform_array(0)  # applies ChannelSensitivity, correction and baseline
    np.testing.assert_allclose(ecg.signals * 1000.0, reference_uv.T, atol=1e-9)
    raw = ds.waveform_array(0, as_raw=True) if "as_raw" in ds.waveform_array.__code__.co_varnames else None
    if raw is not None:
        np.testing.assert_allclose(ecg.signals, raw.T * 1.25 / 1000.0, atol=1e-12)
    item = ds.WaveformSequence[0]
    assert ecg.sampling_rate == float(item.SamplingFrequency) == 1000.0
    assert ecg.signals.shape == (12, 10000) and ecg.units == "mV"
    assert ecg.channel_names == ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    assert abs(ecg.duration - 10.0) < 1e-12 and ecg.time[1] == 1e-3
    assert load_ecg(1).signals.shape == (12, 1200)


def test_chest_xray_is_inverted_from_monochrome1():
    xray = load_chest_xray()
    ds = _reference("RG1_UNCR.dcm")
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    raw = ds.pixel_array.astype(np.float32)
    np.testing.assert_array_equal(xray.pixels, raw.max() - raw)
    assert xray.spacing == (None, None)  # the header stores PixelSpacing 0.000


def test_head_mr_volume_and_ultrasound():
    head = load_head_mr()
    assert head.shape == (10, 64, 64) and head.spacing == (1.2, None, None)
    us = load_ultrasound()
    assert us.shape == (480, 640, 3) and us.pixels.dtype == np.uint8


def test_dicom_spacing_reads_pixel_spacing_and_handles_missing():
    ds = _reference("CT_small.dcm")
    assert dicom_spacing(ds) == (0.661468, 0.661468)
    ds.PixelSpacing = [0, 0]
    assert dicom_spacing(ds) == (None, None)


def test_mri_volume_spacing_matches_nibabel():
    volume = load_mri_volume()
    reference = nib.load(f"{data_path}/anatomical.nii")
    assert volume.spacing == tuple(float(z) for z in reference.header.get_zooms()[:3])
    np.testing.assert_allclose(volume.affine, reference.affine)
    np.testing.assert_allclose(np.linalg.norm(volume.affine[:3, :3], axis=0), volume.spacing, rtol=1e-5)
    np.testing.assert_allclose(volume.data, np.squeeze(reference.get_fdata()), rtol=1e-6)


def test_mni152_template_against_nilearn():
    from nilearn.datasets import load_mni152_brain_mask, load_mni152_gm_template

    template = load_mni152()
    assert template.shape == (197, 233, 189) and template.spacing == (1.0, 1.0, 1.0)
    gm_reference = load_mni152_gm_template().get_fdata()
    inside = (template.gm + template.wm) <= 1.0 - 1e-6  # where no renormalisation was needed
    np.testing.assert_allclose(template.gm[inside], gm_reference[inside], atol=1e-6)
    total = template.gm + template.wm + template.csf
    assert total.max() <= 1.0 + 1e-5
    np.testing.assert_allclose(total[template.brain_mask], 1.0, atol=1e-5)
    mask_reference = load_mni152_brain_mask().get_fdata() > 0
    dice = 2 * (mask_reference & template.brain_mask).sum() / (mask_reference.sum() + template.brain_mask.sum())
    assert dice > 0.99, dice
    assert load_mni152() is template  # cached


def test_mni152_is_found_without_importing_nilearn_datasets():
    # Importing nilearn.datasets costs about 1.5 s, paid by every process that builds a brain phantom
    # (each notebook, each homework grading run); the 1 mm template files are located directly.
    code = (
        "import sys; from lectures_utils import load_mni152; t = load_mni152(); "
        "print('nilearn.datasets' in sys.modules, t.shape)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "(197,", "233,", "189)"], result.stdout + result.stderr


def test_skimage_and_sklearn_data():
    from skimage.data import shepp_logan_phantom

    phantom = load_shepp_logan()
    np.testing.assert_allclose(phantom.pixels, shepp_logan_phantom(), atol=1e-12)
    assert load_retina().shape == (1411, 1411, 3)
    table = load_breast_cancer_table()
    assert table.frame.shape == (569, 31) and int((table.target == 0).sum()) == 212
    digits = load_digits_images()
    assert digits.images.shape == (1797, 8, 8) and digits.data.max() == 16


def test_list_datasets_names_existing_loaders_with_licences():
    rows = list_datasets()
    assert len(rows) == 13
    for row in rows:
        assert callable(getattr(data, row["loader"])), row
        assert row["licence"] and row["source"]
    for key, (file_name, _, _) in DICOM_FILES.items():
        assert dicom_path(key) == dicom_path(file_name)


def test_loaders_work_without_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    load_ct_slice(), load_ecg(), load_head_mr(), load_ultrasound(), load_mri_volume()
    load_shepp_logan(), load_retina(), load_breast_cancer_table(), load_digits_images()
    data._mni152_cached.cache_clear()
    load_mni152()


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="unknown DICOM data set"):
        dicom_path("brain_ct")
    with pytest.raises(TypeError):
        dicom_path(3)
    with pytest.raises(FileNotFoundError):
        read_dicom(tmp_path / "missing.dcm")
    text = tmp_path / "notes.dcm"
    text.write_text("this is not a DICOM file")
    with pytest.raises(ValueError, match="DICOM"):
        read_dicom(text)
    with pytest.raises(TypeError):
        read_dicom(42)
    with pytest.raises(ValueError, match="CT"):
        dicom_to_hounsfield(_reference("MR_small.dcm"))
    with pytest.raises(TypeError):
        dicom_to_hounsfield(np.zeros((4, 4)))
    with pytest.raises(FileNotFoundError):
        load_nifti(tmp_path / "missing.nii")
    with pytest.raises(ValueError, match="NIfTI"):
        load_nifti(get_testdata_file("CT_small.dcm", download=False))
    with pytest.raises(ValueError):
        load_ecg(2)
    with pytest.raises(TypeError):
        load_ecg("rhythm")
    with pytest.raises(ValueError):
        load_mni152(0)
    with pytest.raises(TypeError):
        load_mni152(1.5)
    with pytest.raises(ValueError):
        load_digits_images(11)
