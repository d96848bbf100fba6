"""The zoo networks: published key layouts, sizes, config inference and forward semantics."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional

from models.architectures import Role, architectures, get_architecture
from models.zoo import adain, patch_discriminator, resnet_generator, unet_generator, vgg
from models.zoo.layers import InstanceNorm2d
from models.zoo.transformer_net import TransformerNet
from tests.models.checkpoint_files import GENERATOR_CASES, METRIC_CASES, images, random_network


def parameter_count(network: nn.Module) -> int:
    return sum(parameter.numel() for parameter in network.parameters())


def meta(architecture: str, config: dict[str, Any]) -> nn.Module:
    build = get_architecture(architecture, role=None).build
    assert build is not None
    with torch.device("meta"):
        return build(config)


@pytest.mark.parametrize(
    ("architecture", "config", "published_count"),
    [
        # The counts the reference repositories print for their default networks.
        ("transformer_net", {"width": 32}, 1_679_235),
        (
            "resnet_generator",
            {"ngf": 64, "n_blocks": 9, "norm": "instance", "dropout": False},
            11_378_179,
        ),
        ("unet_generator", {"ngf": 64, "num_downs": 8, "norm": "batch"}, 54_413_955),
        ("patch_discriminator", {"width": 64, "n_layers": 3, "norm": "batch"}, 2_765_633),
        ("vgg19", {"width": 64}, 20_024_384),
    ],
)
def test_default_networks_have_the_published_parameter_counts(
    architecture: str, config: dict[str, Any], published_count: int
) -> None:
    assert parameter_count(meta(architecture, config)) == published_count


def test_transformer_net_keeps_the_pytorch_examples_keys() -> None:
    keys = list(TransformerNet(width=8).state_dict())
    assert keys[:4] == ["conv1.conv2d.weight", "conv1.conv2d.bias", "in1.weight", "in1.bias"]
    assert "res1.conv1.conv2d.weight" in keys
    assert "res5.in2.bias" in keys
    assert keys[-2:] == ["deconv3.conv2d.weight", "deconv3.conv2d.bias"]
    assert len(keys) == 62


def test_resnet_generator_keeps_the_cyclegan_keys() -> None:
    network = meta(
        "resnet_generator", {"ngf": 64, "n_blocks": 9, "norm": "instance", "dropout": False}
    )
    keys = list(network.state_dict())
    assert keys[:2] == ["model.1.weight", "model.1.bias"]
    assert "model.10.conv_block.1.weight" in keys
    assert "model.10.conv_block.5.weight" in keys
    assert keys[-2:] == ["model.26.weight", "model.26.bias"]


def test_dropout_moves_the_second_convolution_of_each_block() -> None:
    network = meta(
        "resnet_generator", {"ngf": 4, "n_blocks": 1, "norm": "instance", "dropout": True}
    )
    keys = set(network.state_dict())
    assert "model.10.conv_block.6.weight" in keys
    assert "model.10.conv_block.5.weight" not in keys


def test_unet_generator_keeps_the_pix2pix_keys() -> None:
    keys = set(meta("unet_generator", {"ngf": 64, "num_downs": 8, "norm": "batch"}).state_dict())
    innermost = "model.model.1" + ".model.3" * 6 + ".model."
    assert {"model.model.0.weight", "model.model.3.weight", "model.model.3.bias"} <= keys
    assert "model.model.0.bias" not in keys  # batch norm: the convolutions have no bias
    assert f"{innermost}1.weight" in keys
    assert f"{innermost}4.running_mean" in keys
    assert f"{innermost}3.model.1.weight" not in keys


@pytest.mark.parametrize("case", [*GENERATOR_CASES, *METRIC_CASES])
def test_config_is_inferred_from_the_weights(case: str) -> None:
    architecture, config = {**GENERATOR_CASES, **METRIC_CASES}[case]
    entry = get_architecture(architecture, role=None)
    assert entry.infer_config is not None
    shapes = {
        key: tuple(value.shape) for key, value in meta(architecture, config).state_dict().items()
    }
    assert entry.infer_config(shapes) == config


@pytest.mark.parametrize("case", GENERATOR_CASES)
def test_generators_keep_the_image_size(case: str) -> None:
    architecture, config = GENERATOR_CASES[case]
    network = random_network(architecture, config)
    content = images(2, seed=3)
    inputs = (content, images(2, seed=4)) if architecture == "adain" else (content,)
    with torch.inference_mode():
        assert network(*inputs).shape == content.shape


def test_instance_norm_computes_torch_instance_norm() -> None:
    ours = InstanceNorm2d(6, affine=True)
    theirs = nn.InstanceNorm2d(6, affine=True)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 1.5)
        ours.bias.normal_()
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 6, 9, 7)
    torch.testing.assert_close(ours(x), theirs(x))
    torch.testing.assert_close(ours(x.contiguous(memory_format=torch.channels_last)), theirs(x))


def test_adain_follows_the_reference_transfer() -> None:
    network = random_network("adain", {"width": 4})
    content, style = images(2, seed=5), images(2, seed=6)
    with torch.inference_mode():
        content_features = network.encoder(content)
        style_features = network.encoder(style)
        flat_content = content_features.flatten(2)
        flat_style = style_features.flatten(2)
        normalised = (content_features - flat_content.mean(2)[..., None, None]) / (
            flat_content.var(2)[..., None, None] + 1e-5
        ).sqrt()
        target = normalised * (flat_style.var(2)[..., None, None] + 1e-5).sqrt()
        target = target + flat_style.mean(2)[..., None, None]
        torch.testing.assert_close(network(content, style), network.decoder(target))
        half = network.decoder(0.5 * target + 0.5 * content_features)
        torch.testing.assert_close(network(content, style, alpha=0.5), half)
        torch.testing.assert_close(
            network(content, style, alpha=0.0), network.decoder(content_features)
        )


def test_adain_ignores_vgg_normalised_layers_past_relu4_1() -> None:
    keys = ["encoder.29.weight", "encoder.32.weight", "encoder.51.bias", "decoder.1.weight"]
    assert adain.unused_encoder_keys(keys) == {"encoder.32.weight", "encoder.51.bias"}


def test_random_vgg19_is_bit_identical_for_a_seed() -> None:
    first, second, other = (vgg.random_vgg19(seed, width=4) for seed in (7, 7, 8))
    for key, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[key])
    assert not torch.equal(first.features[0].weight, other.features[0].weight)
    assert not first.features[0].bias.any()


def test_random_vgg19_draws_kaiming_normal_fan_out() -> None:
    weight = vgg.random_vgg19(0).features[vgg.RELU5_1 - 1].weight
    fan_out = weight.shape[0] * weight.shape[2] * weight.shape[3]
    assert weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.02)


def test_random_vgg19_leaves_the_global_generator_alone() -> None:
    torch.manual_seed(3)
    expected = torch.rand(1)
    torch.manual_seed(3)
    vgg.random_vgg19(0, width=4)
    assert torch.equal(torch.rand(1), expected)


def test_vgg19_stops_at_the_deepest_tap() -> None:
    network = vgg.random_vgg19(0, width=4)
    ran: list[int] = []
    for index, layer in enumerate(network.features):
        layer.register_forward_hook(lambda *_, index=index: ran.append(index))
    activations = network(images(1, seed=0), taps=[vgg.RELU1_1, vgg.RELU3_1])
    assert set(activations) == {vgg.RELU1_1, vgg.RELU3_1}
    assert max(ran) == vgg.RELU3_1
    assert activations[vgg.RELU1_1].shape == (1, 4, 32, 32)
    assert activations[vgg.RELU1_1].min() >= 0


def test_vgg19_relus_are_not_in_place() -> None:
    relus = [layer for layer in vgg.VGG19(width=4).features if isinstance(layer, nn.ReLU)]
    assert len(relus) == 16
    assert not any(relu.inplace for relu in relus)


def test_vgg19_layers_sit_at_torchvisions_indices() -> None:
    features = vgg.VGG19(width=4).features
    assert len(features) == 37
    assert isinstance(features[vgg.RELU4_2], nn.ReLU)
    assert isinstance(features[vgg.RELU4_2 - 1], nn.Conv2d)
    assert [i for i, layer in enumerate(features) if isinstance(layer, nn.MaxPool2d)] == [
        4,
        9,
        18,
        27,
        36,
    ]


def test_patch_discriminator_features_lead_to_its_logits() -> None:
    network = random_network("patch_discriminator", {"width": 4, "n_layers": 2, "norm": "instance"})
    x = images(2, seed=9, size=64)
    with torch.inference_mode():
        features, logits = network.features_and_logits(x)
        torch.testing.assert_close(logits, network(x))
    assert features.shape[:2] == (2, 16)
    assert logits.shape == (2, 1, 14, 14)


def test_patch_discriminator_trains() -> None:
    network = patch_discriminator.PatchDiscriminator(width=4, n_layers=2)
    x = images(4, seed=10)
    loss = functional.binary_cross_entropy_with_logits(network(x), torch.ones(4, 1, 6, 6))
    loss.backward()
    assert network.model[0].weight.grad is not None


def test_only_generators_are_offered_to_submissions() -> None:
    names = [entry.name for entry in architectures()]
    assert names == [
        "transformer_net",
        "resnet_generator",
        "unet_generator",
        "adain",
        "exported",
        "onnx",
    ]
    assert {entry.name for entry in architectures(Role.METRIC)} == {"vgg19", "patch_discriminator"}


def test_norm_choices_are_checked() -> None:
    with pytest.raises(ValueError, match="norm"):
        resnet_generator.ResnetGenerator(norm="group")
    with pytest.raises(ValueError, match="num_downs"):
        unet_generator.UnetGenerator(num_downs=4)
