"""Tests for lectures_utils.training: the loop must do what a hand-written loop does."""

import copy

import pytest
import torch

from lectures_utils import History, evaluate, fit, predict, predict_labels, predict_proba, seed_everything


def _data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(n, 1, generator=g)
    return torch.utils.data.TensorDataset(x, y)


def test_fit_matches_a_hand_written_loop():
    seed_everything(0)
    model = torch.nn.Linear(3, 1)
    reference = copy.deepcopy(model)
    data = _data()
    loader = torch.utils.data.DataLoader(data, batch_size=16, shuffle=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    history = fit(model, loader, torch.nn.functional.mse_loss, opt, epochs=3,
                  device=torch.device("cpu"), progress=False, verbose=False)
    losses = []
    for _ in range(3):
        total = 0.0
        for x, y in loader:
            ref_opt.zero_grad()
            loss = torch.nn.functional.mse_loss(reference(x), y)
            loss.backward()
            ref_opt.step()
            total += loss.item() * len(x)
        losses.append(total / len(data))
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q)
    assert history["train_loss"] == pytest.approx(losses, rel=1e-6)
    assert history.epochs == 3
    assert history.elapsed_s > 0


def test_fit_records_validation_metrics_and_they_match_evaluate():
    seed_everything(1)
    model = torch.nn.Linear(3, 1)
    train = torch.utils.data.DataLoader(_data(seed=1), batch_size=8)
    val = torch.utils.data.DataLoader(_data(n=30, seed=2), batch_size=7)
    mae = lambda out, y: (out - y).abs().mean()  # noqa: E731
    history = fit(model, train, torch.nn.functional.mse_loss, torch.optim.Adam(model.parameters(), 0.05),
                  epochs=4, val_loader=val, metrics={"mae": mae}, device="cpu", progress=False, verbose=False)
    assert set(history.keys()) == {"train_loss", "train_mae", "val_loss", "val_mae"}
    assert history["train_loss"][-1] < history["train_loss"][0]
    final = evaluate(model, val, torch.nn.functional.mse_loss, {"mae": mae}, device="cpu")
    x = torch.cat([b[0] for b in val]); y = torch.cat([b[1] for b in val])
    with torch.no_grad():
        assert final["mae"] == pytest.approx(float((model(x) - y).abs().mean()), rel=1e-5)
        assert final["loss"] == pytest.approx(float(torch.nn.functional.mse_loss(model(x), y)), rel=1e-5)
    assert history.last("val_mae") == pytest.approx(final["mae"], rel=1e-6)
    assert history.best("val_loss") <= history["val_loss"][0]
    preds = predict(model, val, device="cpu")
    assert preds.shape == (30, 1)


def test_fit_is_deterministic_given_the_seed():
    def run():
        seed_everything(5)
        model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
        loader = torch.utils.data.DataLoader(_data(), batch_size=8, shuffle=True,
                                             generator=torch.Generator().manual_seed(5))
        return fit(model, loader, torch.nn.functional.mse_loss, torch.optim.SGD(model.parameters(), 0.05),
                   epochs=2, device="cpu", progress=False, verbose=False)["train_loss"]
    assert run() == run()


def test_fit_rejects_bad_arguments():
    model = torch.nn.Linear(3, 1)
    loader = torch.utils.data.DataLoader(_data(), batch_size=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = torch.nn.functional.mse_loss
    with pytest.raises(ValueError, match="epochs"):
        fit(model, loader, loss, opt, epochs=0, progress=False)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        fit(lambda x: x, loader, loss, opt, epochs=1, progress=False)
    with pytest.raises(TypeError, match="Optimizer"):
        fit(model, loader, loss, "sgd", epochs=1, progress=False)
    with pytest.raises(ValueError, match="empty"):
        fit(model, [], loss, opt, epochs=1, progress=False)
    with pytest.raises(TypeError, match=r"tuple \(inputs, targets\)"):
        fit(model, [torch.randn(4, 3)], loss, opt, epochs=1, progress=False, device="cpu")


def test_fit_stops_on_a_diverging_loss():
    model = torch.nn.Linear(3, 1)
    x = torch.randn(8, 3); y = torch.full((8, 1), float("nan"))
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        fit(model, [(x, y)], torch.nn.functional.mse_loss, torch.optim.SGD(model.parameters(), 0.1),
            epochs=1, progress=False, device="cpu")


def test_history_access_and_errors():
    h = History()
    h.append("val_dice", 0.5); h.append("val_dice", 0.7)
    assert h.last("val_dice") == 0.7 and h.best("val_dice", "max") == 0.7
    assert "val_dice" in h
    with pytest.raises(KeyError, match="val_loss"):
        h["val_loss"]
    with pytest.raises(ValueError, match="mode"):
        h.best("val_dice", "median")


def test_fit_shows_one_progress_bar_per_run(monkeypatch):
    """An executed notebook keeps every progress widget it ever showed: one per run, not per epoch."""
    import lectures_utils.training as training

    created = []
    real_tqdm = training.tqdm

    def counting_tqdm(*args, **kwargs):
        bar = real_tqdm(*args, **kwargs)
        created.append(bar)
        return bar

    monkeypatch.setattr(training, "tqdm", counting_tqdm)
    loader = torch.utils.data.DataLoader(_data(), batch_size=16)
    model = torch.nn.Linear(3, 1)
    fit(model, loader, torch.nn.functional.mse_loss, torch.optim.SGD(model.parameters(), lr=0.1), epochs=3,
        device="cpu", progress=True, verbose=False)
    assert len(created) == 1
    assert created[0].n == 3  # the bar counted the epochs


def test_predict_from_a_tensor_matches_one_forward_pass_and_restores_the_mode():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.Dropout(0.5),
                                torch.nn.Conv2d(8, 3, 1))
    x = torch.randn(10, 2, 6, 5)
    model.train()
    logits = predict(model, x, device="cpu", batch_size=4)  # batches of 4, 4 and 2
    assert model.training  # the mode is restored
    model.eval()
    with torch.no_grad():
        reference = model(x)
    torch.testing.assert_close(logits, reference)
    torch.testing.assert_close(predict_proba(model, x, device="cpu", batch_size=3), torch.softmax(reference, dim=1))
    labels = predict_labels(model, x, device="cpu")
    assert labels.dtype == torch.int64 and labels.shape == (10, 6, 5)
    assert torch.equal(labels, reference.argmax(1))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(10)), batch_size=3)
    torch.testing.assert_close(predict(model, loader, device="cpu"), reference)


def test_predict_rejects_bad_data():
    model = torch.nn.Linear(3, 1)
    with pytest.raises(ValueError, match="batch_size"):
        predict(model, torch.zeros(4, 3), device="cpu", batch_size=0)
    with pytest.raises(ValueError, match="non-empty tensor"):
        predict(model, torch.zeros(0, 3), device="cpu")
    with pytest.raises(ValueError, match="non-empty tensor"):
        predict(model, torch.zeros(3), device="cpu")
    with pytest.raises(TypeError, match="iterable"):
        predict(model, 3, device="cpu")
