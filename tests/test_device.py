"""Tests for lectures_utils.device."""

import numpy as np
import pytest
import torch

from lectures_utils import (DEVICE_ENV_VAR, SEED_ENV_VAR, TransformedLoader, book_seed, get_device, loader_kwargs, make_loader,
                            seed_everything)


def test_get_device_defaults_to_best_available(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV_VAR, raising=False)
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else "cpu")
    assert get_device().type == expected


def test_env_var_overrides_choice(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV_VAR, "cpu")
    assert get_device() == torch.device("cpu")
    assert get_device("CPU") == torch.device("cpu")


@pytest.mark.parametrize("bad", ["gpu", "tpu0", "banana"])
def test_unknown_device_is_rejected(bad):
    with pytest.raises(ValueError, match="expected 'cpu'"):
        get_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_unavailable_cuda_is_rejected():
    with pytest.raises(ValueError, match="CUDA is not available"):
        get_device("cuda")


def test_seed_everything_makes_torch_and_numpy_repeatable():
    rng_a = seed_everything(123)
    a = (torch.rand(5), np.random.rand(5), rng_a.random(5))
    rng_b = seed_everything(123)
    b = (torch.rand(5), np.random.rand(5), rng_b.random(5))
    assert torch.equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])
    seed_everything(124)
    assert not torch.equal(a[0], torch.rand(5))


@pytest.mark.parametrize("bad, error", [(1.5, TypeError), ("1", TypeError), (True, TypeError), (-1, ValueError), (2**32, ValueError)])
def test_seed_everything_rejects_bad_seeds(bad, error):
    with pytest.raises(error, match="seed"):
        seed_everything(bad)


def test_loader_defaults_are_portable():
    kwargs = loader_kwargs(torch.device("cpu"))
    assert kwargs == {"num_workers": 0, "pin_memory": False}


def test_make_loader_shuffles_reproducibly():
    data = torch.utils.data.TensorDataset(torch.arange(20))
    first = [b[0].tolist() for b in make_loader(data, batch_size=5, shuffle=True, seed=7)]
    second = [b[0].tolist() for b in make_loader(data, batch_size=5, shuffle=True, seed=7)]
    assert first == second
    assert sorted(sum(first, [])) == list(range(20))
    assert first != [list(range(i, i + 5)) for i in range(0, 20, 5)]
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(data, batch_size=0)


def test_book_seed_reads_the_environment(monkeypatch):
    monkeypatch.delenv(SEED_ENV_VAR, raising=False)
    assert book_seed() == 0
    assert book_seed(default=5) == 5
    monkeypatch.setenv(SEED_ENV_VAR, " 3 ")
    assert book_seed() == 3
    assert book_seed(default=5) == 3


@pytest.mark.parametrize("raw", ["abc", "1.5", "-1", str(2**31)])
def test_book_seed_rejects_bad_environment_values(monkeypatch, raw):
    monkeypatch.setenv(SEED_ENV_VAR, raw)
    with pytest.raises(ValueError, match=SEED_ENV_VAR):
        book_seed()


def _noisy(x, y, generator):
    return x + torch.randn(x.shape, generator=generator), y


def test_transformed_loader_draws_afresh_each_epoch_and_repeats_with_the_seed():
    data = torch.utils.data.TensorDataset(torch.zeros(10, 3), torch.arange(10))
    loader = TransformedLoader(make_loader(data, batch_size=4), _noisy, seed=3)
    assert len(loader) == 3
    first, second = list(loader), list(loader)
    assert [len(y) for _, y in first] == [4, 4, 2] and all(torch.equal(a[1], b[1]) for a, b in zip(first, second))
    assert not torch.equal(first[0][0], second[0][0])  # a new epoch, new noise
    generator = torch.Generator().manual_seed(3)  # the same draws as calling the transform by hand
    for (x, y), (x0, y0) in zip(first, make_loader(data, batch_size=4)):
        expected, _ = _noisy(x0, y0, generator)
        assert torch.equal(x, expected) and torch.equal(y, y0)
    again = list(TransformedLoader(make_loader(data, batch_size=4), _noisy, seed=3))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again))


def test_transformed_loader_single_tensor_batches_and_bad_arguments():
    loader = TransformedLoader([torch.ones(2, 2)], lambda x, generator: (x * 2, x), seed=0)
    (doubled, original), = list(loader)
    assert torch.equal(doubled, 2 * original)
    with pytest.raises(TypeError, match="callable"):
        TransformedLoader([torch.ones(1)], "flip")
    with pytest.raises(TypeError, match="iterable"):
        TransformedLoader(3, _noisy)
    with pytest.raises(TypeError, match="seed"):
        TransformedLoader([torch.ones(1)], _noisy, seed=1.5)
