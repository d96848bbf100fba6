"""The metric network: normalisation, six taps in one pass (VGG19 or the random texture
network), weights files, fingerprints."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import safetensors.torch
import torch

from models.perceptual import IMAGENET_MEAN, IMAGENET_STD, TAPS, gram_matrices
from models.zoo.texture import STRIDES, TAP_SCALES, random_texture
from models.zoo.vgg import random_vgg19
from scoring.engine import ENGINE_VERSION, ErrorCode, Fingerprint, MetricNetwork, ScoringError
from tests.scoring.engine.helpers import smooth_images


def vgg_network(seed: int = 0, width: int = 4) -> MetricNetwork:
    """What a configured weights file gives: one VGG19 (random here, so no file is needed)."""
    return MetricNetwork(random_vgg19(seed, width), weights_sha256=None, seed=seed)


def test_vgg_features_are_the_six_taps_of_the_normalised_image() -> None:
    images = smooth_images(2, 32)
    features = vgg_network().features(images)
    assert list(features) == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    expected = random_vgg19(0, width=4)((images - mean) / std, list(TAPS.values()))
    for tap, index in TAPS.items():
        torch.testing.assert_close(features[tap], expected[index])
    assert features["relu5_1"].shape == (2, 32, 2, 2)
    assert features["relu4_2"].shape == (2, 32, 4, 4)


def test_a_vgg_forward_pass_stops_at_relu5_1() -> None:
    network = vgg_network()
    ran: list[int] = []
    hooks = [
        layer.register_forward_hook(lambda *_, index=index: ran.append(index))
        for index, layer in enumerate(network.network.features)
    ]
    try:
        network.features(smooth_images(1, 32))
    finally:
        for hook in hooks:
            hook.remove()
    assert max(ran) == TAPS["relu5_1"]


def test_texture_taps_are_one_random_filter_bank_per_scale(tiny_network: MetricNetwork) -> None:
    """relu1_1 … relu5_1 are the full, ½, ¼, ⅛ and 1/16 scales of the normalised image, each
    through its own 5×5 bank and a ReLU (the two finest read every second position)."""
    images = smooth_images(2, 64)
    features = tiny_network.features(images)
    assert list(features) == [
        "relu1_1",
        "relu2_1",
        "relu3_1",
        "relu4_1",
        "relu4_2",
        "relu5_1",
        "layout",
    ]
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    normalised = (images - mean) / std
    member = random_texture(0, width=4)
    for tap, scale in TAP_SCALES.items():
        scaled = torch.nn.functional.avg_pool2d(normalised, 2**scale) if scale else normalised
        weight = member.scales[scale].weight
        replicated = torch.nn.functional.pad(scaled, [2, 2, 2, 2], mode="replicate")
        expected = torch.relu(torch.nn.functional.conv2d(replicated, weight, stride=STRIDES[scale]))
        torch.testing.assert_close(features[tap], expected)
    assert [features[tap].shape[-1] for tap in TAP_SCALES] == [32, 16, 16, 8, 8, 4]
    assert torch.equal(features["relu4_2"], features["relu4_1"])
    quarter = torch.nn.functional.avg_pool2d(normalised, 4)
    padded = torch.nn.functional.pad(quarter, [2, 2, 2, 2], mode="reflect")
    expected = torch.relu(torch.nn.functional.conv2d(padded, member.layout.weight))
    torch.testing.assert_close(features["layout"], expected)


def test_the_layout_bank_sees_edges_not_flat_colour() -> None:
    member = random_texture(0, width=8)
    sums = member.layout.weight.sum(dim=(2, 3))
    assert sums.abs().max() < 1e-5
    flat = torch.full((1, 3, 32, 32), 0.7)
    assert member(flat, ["layout"])["layout"].abs().max() < 1e-5
    assert member(flat, ["relu3_1"])["relu3_1"].abs().max() > 0.01  # style banks see colour


def test_a_flat_image_is_flat_at_every_scale_borders_included() -> None:
    """Replicated borders: no style tap of a flat image varies over positions, so its feature
    covariance (half of the style distance) is zero, even on a 2×2 map."""
    member = random_texture(0, width=8)
    features = member(torch.full((1, 3, 32, 32), 0.3), list(TAP_SCALES))
    for tap, value in features.items():
        spread = (value - value.mean(dim=(2, 3), keepdim=True)).abs().max()
        assert spread < 1e-5, tap


def test_texture_network_computes_no_scale_past_the_coarsest_tap() -> None:
    member = random_texture(0, width=4)
    ran: list[int] = []
    hooks = [
        conv.register_forward_hook(lambda *_, scale=scale: ran.append(scale))
        for scale, conv in enumerate(member.scales)
    ]
    try:
        member(smooth_images(1, 32), ["relu1_1", "relu3_1"])
    finally:
        for hook in hooks:
            hook.remove()
    assert ran == [0, 2]
    with pytest.raises(ValueError, match="taps must be among"):
        member(smooth_images(1, 32), ["relu9_9"])


def test_texture_filters_are_seeded_kaiming_normal() -> None:
    first, again, other = random_texture(5, 64), random_texture(5, 64), random_texture(6, 64)
    for a, b, c in zip(first.scales, again.scales, other.scales, strict=True):
        assert torch.equal(a.weight, b.weight)
        assert not torch.equal(a.weight, c.weight)
        assert a.bias is None
    # fan in 3·5·5 = 75: standard deviation √(2/75) ≈ 0.163
    weights = torch.cat([conv.weight.flatten() for conv in first.scales])
    assert abs(weights.std().item() - (2 / 75) ** 0.5) < 0.01
    assert abs(weights.mean().item()) < 0.01


def test_random_network_is_uncalibrated_and_fingerprinted_by_its_seed() -> None:
    network = MetricNetwork.load(None, seed=7)
    fingerprint = network.fingerprint(256)
    assert not network.calibrated
    assert fingerprint == Fingerprint(
        "random-texture", 512, None, 7, 256, ENGINE_VERSION, members=3
    )
    assert fingerprint.as_dict()["calibrated"] is False


def test_an_ensemble_is_its_members_side_by_side() -> None:
    """Member m of seed s is random_texture(s·1000 + m); its taps are channel block m."""
    ensemble = MetricNetwork.random(2, width=4, members=3)
    assert ensemble.members == 3
    images = smooth_images(2, 32)
    features = ensemble.features(images)
    for member in range(3):
        alone = MetricNetwork(random_texture(2000 + member, width=4), weights_sha256=None, seed=0)
        expected = alone.features(images)
        for tap, value in features.items():
            channels = expected[tap].shape[1]
            block = value[:, member * channels : (member + 1) * channels]
            assert torch.equal(block, expected[tap]), (member, tap)


def test_an_ensemble_mixing_kinds_of_network_is_refused() -> None:
    with pytest.raises(ValueError, match="one kind"):
        MetricNetwork([random_texture(0, 4), random_vgg19(0, 4)], weights_sha256=None, seed=0)


def test_ensemble_grams_are_one_per_member() -> None:
    members = list(torch.rand(3, 2, 2, 5, 5).unbind(0))
    grams = gram_matrices(members)
    assert grams.shape == (2, 3, 2, 2)
    for member in range(3):
        assert torch.equal(grams[:, member], gram_matrices(members[member]))
    assert torch.equal(gram_matrices(members[:1]), gram_matrices(members[0]))


def test_ensembles_of_two_seeds_share_no_member() -> None:
    first = MetricNetwork.random(0, width=4, members=2).networks
    second = MetricNetwork.random(1, width=4, members=2).networks
    weights = [network.scales[0].weight for network in (*first, *second)]
    assert all(
        not torch.equal(a, b) for index, a in enumerate(weights) for b in weights[index + 1 :]
    )


def test_fingerprint_key_depends_on_everything_in_it() -> None:
    fingerprint = Fingerprint("vgg19", 64, None, 0, 256, ENGINE_VERSION)
    others = [
        Fingerprint("vgg19", 64, None, 1, 256, ENGINE_VERSION),
        Fingerprint("vgg19", 64, None, 0, 128, ENGINE_VERSION),
        Fingerprint("vgg19", 64, "ab" * 32, None, 256, ENGINE_VERSION),
        Fingerprint("vgg19", 64, None, 0, 256, ENGINE_VERSION + "x"),
    ]
    assert len({fingerprint.key, *(other.key for other in others)}) == 5
    assert Fingerprint.from_dict(fingerprint.as_dict()) == fingerprint


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_weights_file_is_calibrated_with_its_sha256(tmp_path: Path, suffix: str) -> None:
    state = random_vgg19(3, width=4).state_dict()
    # torchvision's file also holds the classifier, which the metric never uses.
    state["classifier.0.weight"] = torch.zeros(2, 2)
    path = tmp_path / f"vgg19{suffix}"
    if suffix == ".safetensors":
        safetensors.torch.save_file(state, path)
    else:
        torch.save(state, path)
    network = MetricNetwork.load(path)
    assert network.calibrated
    fingerprint = network.fingerprint(64)
    assert fingerprint.weights_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert fingerprint.seed is None
    assert fingerprint.width == 4
    images = smooth_images(1, 32)
    expected = vgg_network(3).features(images)["relu4_2"]
    torch.testing.assert_close(network.features(images)["relu4_2"], expected)


def test_unreadable_weights_file_is_a_scoring_error(tmp_path: Path) -> None:
    path = tmp_path / "vgg19.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ScoringError) as caught:
        MetricNetwork.from_file(path)
    assert caught.value.code == ErrorCode.METRIC_WEIGHTS_UNREADABLE
    assert "vgg19.pth" in caught.value.message


def test_weights_of_another_network_are_refused(tmp_path: Path) -> None:
    state = random_vgg19(3, width=4).state_dict()
    del state["features.34.weight"]
    path = tmp_path / "vgg19.safetensors"
    safetensors.torch.save_file(state, path)
    with pytest.raises(ScoringError) as caught:
        MetricNetwork.from_file(path)
    assert caught.value.code == ErrorCode.METRIC_WEIGHTS_MISMATCH
    assert "features.34.weight" in caught.value.message
