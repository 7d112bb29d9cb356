"""One update: where gradients go, how often each network runs, the non-finite guard, D re-init."""

from __future__ import annotations

import pytest
import torch

from anotrans.training.config import TrainConfig
from anotrans.training.steps import GanUpdater, NonFiniteLossError, frozen


def _count_forwards(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.parametrize("name", ["anotrans", "ganomaly"])
@pytest.mark.parametrize("d_steps", [1, 2])
def test_each_network_runs_only_as_often_as_needed(make_tiny, batch, name, d_steps):
    model = make_tiny(name)
    updater = GanUpdater(model, TrainConfig(d_steps=d_steps), torch.device("cpu"))
    g_calls = _count_forwards(model.generator)
    d_calls = _count_forwards(model.discriminator)
    result = updater.step(batch)
    # GANomaly's forward_latent does not go through generator.forward: count it as one pass too.
    assert g_calls[0] + (name == "ganomaly") == 1
    assert d_calls[0] == 2 * d_steps + 2
    expected = (
        {"d", "g", "g_adv", "g_con", "g_lat"} if name == "anotrans" else {"d", "g", "g_adv", "g_con", "g_enc"}
    )
    assert set(result.losses) == expected
    assert result.skipped == 0


def _record_grads_at_step(optimizer: torch.optim.Optimizer, module: torch.nn.Module) -> list[list]:
    """Wrap ``optimizer.step`` to snapshot ``module``'s grads each time it is called."""
    seen: list[list] = []
    step = optimizer.step

    def recording_step(*args, **kwargs):
        seen.append([None if p.grad is None else p.grad.clone() for p in module.parameters()])
        return step(*args, **kwargs)

    optimizer.step = recording_step
    return seen


def test_generator_step_leaves_discriminator_grads_untouched(make_tiny, batch):
    model = make_tiny()
    updater = GanUpdater(model, TrainConfig(d_steps=1), torch.device("cpu"))
    at_d_step = _record_grads_at_step(updater.opt_d, model.discriminator)
    at_g_step = _record_grads_at_step(updater.opt_g, model.generator)
    updater.step(batch)
    assert len(at_d_step) == 1 and len(at_g_step) == 1
    assert all(g is not None for g in at_g_step[0])
    # After G's backward, D's grads are still exactly those of D's own step.
    for recorded, now in zip(at_d_step[0], [p.grad for p in model.discriminator.parameters()], strict=True):
        assert torch.equal(recorded, now)


def test_discriminator_step_does_not_backprop_into_generator(make_tiny, batch):
    model = make_tiny()
    updater = GanUpdater(model, TrainConfig(d_steps=2), torch.device("cpu"))
    g_grads_at_d_steps = _record_grads_at_step(updater.opt_d, model.generator)
    updater.step(batch)
    assert len(g_grads_at_d_steps) == 2
    assert all(g is None for grads in g_grads_at_d_steps for g in grads), "D's backward reached G"


def test_frozen_restores_requires_grad(make_tiny):
    model = make_tiny()
    with frozen(model.discriminator):
        assert not any(p.requires_grad for p in model.discriminator.parameters())
    assert all(p.requires_grad for p in model.discriminator.parameters())


def test_non_finite_losses_are_skipped_then_stop_training(make_tiny, batch):
    model = make_tiny()
    updater = GanUpdater(model, TrainConfig(d_steps=1, max_nonfinite=4), torch.device("cpu"))
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    bad = batch.clone()
    bad[0, 0, 0, 0] = float("nan")
    result = updater.step(bad)  # D and G losses are NaN: 2 skipped updates, weights unchanged
    assert result.skipped == 2
    for k, v in model.state_dict().items():
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(v, weights[k]), k
    updater.step(batch)  # a finite batch resets the count
    assert updater.consecutive_nonfinite == 0
    updater.step(bad)
    with pytest.raises(NonFiniteLossError, match="consecutive updates"):
        updater.step(bad)


def test_discriminator_is_reinitialised_when_its_loss_collapses(make_tiny, batch):
    model = make_tiny()
    updater = GanUpdater(model, TrainConfig(d_steps=1, d_reinit_threshold=1e9), torch.device("cpu"))
    assert updater.step(batch).d_reinit
    assert not updater.opt_d.state  # fresh Adam moments for the fresh weights
    updater = GanUpdater(model, TrainConfig(d_steps=1, d_reinit_threshold=0.0), torch.device("cpu"))
    assert not updater.step(batch).d_reinit


def test_bf16_autocast_keeps_fp32_weights(make_tiny, batch):
    model = make_tiny()
    result = GanUpdater(model, TrainConfig(precision="bf16"), torch.device("cpu")).step(batch)
    assert all(torch.isfinite(torch.tensor(v)) for v in result.losses.values())
    assert all(p.dtype == torch.float32 for p in model.parameters())
