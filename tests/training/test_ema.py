"""``ema_decay``: evaluations use an exponential moving average of G (resume: test_kill_resume)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import anotrans
from anotrans.errors import ConfigError
from anotrans.training.config import TrainConfig
from anotrans.training.ema import GeneratorAverage
from anotrans.training.steps import GanUpdater

from .tiny import TINY_RUN


def test_the_average_follows_the_ema_formula_and_swaps_in_and_out():
    net = nn.Linear(3, 2)
    average = GeneratorAverage(net, decay=0.5)
    expected = None
    for value in (1.0, 3.0, -1.0):
        with torch.no_grad():
            net.weight.fill_(value)
        average.update()
        expected = value if expected is None else 0.5 * expected + 0.5 * value  # the first update copies
    assert expected == 0.5
    with average.swapped_in():
        assert torch.all(net.weight == expected)
    assert torch.all(net.weight == -1.0)  # the live weights are back
    copy = GeneratorAverage(nn.Linear(3, 2), decay=0.5)
    copy.load_state_tensors(average.state_tensors())
    assert torch.all(copy.average.module.weight == expected)


@pytest.mark.parametrize("bad", [-0.1, 1.0])
def test_a_decay_outside_0_1_is_refused(bad):
    with pytest.raises(ConfigError, match=r"--ema-decay must be in \[0, 1\)"):
        TrainConfig(ema_decay=bad)


def test_the_saved_model_is_the_average_of_the_live_generators(tmp_path, monkeypatch):
    live: list[dict[str, torch.Tensor]] = []
    step = GanUpdater.step

    def recording_step(self, x):
        result = step(self, x)
        live.append({k: v.detach().clone() for k, v in self.model.generator.state_dict().items()})
        return result

    monkeypatch.setattr(GanUpdater, "step", recording_step)
    anotrans.train(tmp_path, ema_decay=0.8, **{**TINY_RUN, "epochs": 3})
    saved = load_file(tmp_path / "model.safetensors")
    name = next(k for k in live[0] if k.endswith("weight"))
    expected = live[0][name]
    for weights in live[1:]:
        expected = 0.8 * expected + 0.2 * weights[name]
    assert len(live) == 3  # one update an epoch
    torch.testing.assert_close(saved[f"generator.{name}"], expected)
    assert not torch.allclose(saved[f"generator.{name}"], live[-1][name])  # not the live weights


def _batch_norm_net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2), nn.Dropout(0.5))


def test_batch_norm_statistics_are_measured_for_the_averaged_weights_and_draw_no_random_numbers():
    torch.manual_seed(0)
    net = _batch_norm_net()
    average = GeneratorAverage(net, decay=0.5)
    for value in (1.0, 5.0):
        with torch.no_grad():
            net[0].weight.fill_(value)
            net[0].bias.fill_(value)
        average.update()
    inputs = [torch.rand(4, 1, 3, 3) for _ in range(3)]
    average.average.module.eval()
    state = torch.get_rng_state()
    average.refresh_batch_norm(iter(inputs))
    assert torch.equal(torch.get_rng_state(), state)  # Dropout ran in train mode, on a forked generator
    conv = average.average.module[0]  # weight and bias 0.5 * 1 + 0.5 * 5 = 3
    assert torch.all(conv.weight == 3.0)
    activations = torch.cat([conv(x) for x in inputs]).detach()
    bn = average.average.module[1]
    torch.testing.assert_close(bn.running_mean, activations.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(bn.running_var, activations.var(dim=(0, 2, 3)), rtol=0.05, atol=1e-6)
    assert bn.momentum == 0.1 and not average.average.module.training  # put back as they were


def test_a_generator_without_batch_norm_reads_no_inputs():
    def refuse():
        raise AssertionError("read")
        yield

    GeneratorAverage(nn.Linear(3, 2), decay=0.5).refresh_batch_norm(refuse())


def test_training_measures_the_statistics_on_every_training_normal_each_epoch(tmp_path, monkeypatch):
    seen: list[int] = []
    refresh = GeneratorAverage.refresh_batch_norm

    def counting(self, inputs):
        batches = list(inputs)
        seen.append(sum(len(x) for x in batches))
        refresh(self, iter(batches))

    monkeypatch.setattr(GeneratorAverage, "refresh_batch_norm", counting)
    result = anotrans.train(tmp_path, ema_decay=0.8, **{**TINY_RUN, "epochs": 2})
    assert seen == [result.metrics["n_train"]] * 2
