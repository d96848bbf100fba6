"""The terms of the objective, on float RGB in [0, 1], with the platform's own definitions.

Content and style are the scorer's metrics (scoring/engine, DESIGN.md section 6) made
differentiable: the same VGG19 taps, ImageNet normalisation and Gram matrices, and the same
scale-free normalisation, so the numbers a run prints are the numbers the leaderboard shows
(on the training images instead of the hidden ones).

- content: ‖F₄₂(out) − F₄₂(content)‖² / ‖F₄₂(content)‖², averaged over the batch;
- style: ⅕ Σₗ ‖G_l(out) − T_l‖² / ‖T_l‖² over relu1_1 … relu5_1, averaged over the batch;
- adversarial: non-saturating BCE (default), hinge or WGAN-GP against a PatchGAN;
- total variation: mean absolute difference of neighbouring pixels.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from models.perceptual import IMAGENET_MEAN, IMAGENET_STD, STYLE_TAPS, TAPS, gram_matrices
from models.zoo.vgg import VGG19

Features = dict[str, torch.Tensor]


class Perceptual(nn.Module):
    """A frozen VGG19 giving the content tap and the style Grams of a [0, 1] batch."""

    def __init__(self, network: VGG19) -> None:
        super().__init__()
        self.network = network.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def features(self, images: torch.Tensor, taps: tuple[str, ...] = tuple(TAPS)) -> Features:
        normalised = (images - self.mean) / self.std
        if normalised.device.type == "cpu":
            # oneDNN's convolutions are faster in channels_last, forward and backward.
            normalised = normalised.contiguous(memory_format=torch.channels_last)
        activations = self.network(normalised, [TAPS[tap] for tap in taps])
        return {tap: activations[TAPS[tap]] for tap in taps}

    def grams(self, images: torch.Tensor) -> Features:
        features = self.features(images, STYLE_TAPS)
        return {tap: gram_matrices(features[tap]) for tap in STYLE_TAPS}

    def train(self, mode: bool = True) -> Perceptual:
        # Always frozen: switching the training flag never changes the loss network.
        return super().train(False)


def relative_squared_error(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """‖value − target‖² / ‖target‖² for each item of a batch (target broadcast if needed)."""
    target = target.expand_as(value)
    error = (value - target).flatten(1).pow(2).sum(dim=1)
    return error / target.flatten(1).pow(2).sum(dim=1).clamp_min(1e-12)


def content_loss(output: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The content distance of relu4_2 features `output` to `content` (same batch order)."""
    return relative_squared_error(output, content).mean()


def style_loss(output: Features, targets: Features) -> torch.Tensor:
    """The style distance of output Grams to targets (1×C×C for one style, or B×C×C paired)."""
    terms = [relative_squared_error(output[tap], targets[tap]) for tap in STYLE_TAPS]
    return torch.stack(terms).mean(dim=0).mean()


def total_variation(images: torch.Tensor) -> torch.Tensor:
    across = (images[..., :, 1:] - images[..., :, :-1]).abs().mean()
    down = (images[..., 1:, :] - images[..., :-1, :]).abs().mean()
    return across + down


def discriminator_loss(
    kind: str,
    discriminator: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    gradient_penalty: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """The discriminator's loss: real style crops against generated images (both in [0, 1]).

    `generator` (CPU) draws the mixing weights of WGAN-GP's penalty, so runs stay seeded.
    """
    real_logits = discriminator(real * 2 - 1)
    fake_logits = discriminator(fake * 2 - 1)
    if kind == "bce":
        return functional.binary_cross_entropy_with_logits(
            real_logits, torch.ones_like(real_logits)
        ) + functional.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    if kind == "hinge":
        return functional.relu(1 - real_logits).mean() + functional.relu(1 + fake_logits).mean()
    wasserstein = fake_logits.mean() - real_logits.mean()
    penalty = _gradient_penalty(discriminator, real, fake, generator)
    return wasserstein + gradient_penalty * penalty


def generator_adversarial_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """What the generator minimises to fool the discriminator (non-saturating for BCE)."""
    if kind == "bce":
        return functional.binary_cross_entropy_with_logits(
            fake_logits, torch.ones_like(fake_logits)
        )
    return -fake_logits.mean()


def _gradient_penalty(
    discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Gulrajani et al.'s (‖∇D(x̂)‖ − 1)² on random mixtures of real and generated images."""
    count = min(real.shape[0], fake.shape[0])
    real, fake = real[:count], fake[:count]
    alpha = torch.rand(count, 1, 1, 1, generator=generator).to(real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    logits = discriminator(mixed * 2 - 1)
    (gradients,) = torch.autograd.grad(logits.sum(), mixed, create_graph=True)
    return (gradients.flatten(1).norm(dim=1) - 1).pow(2).mean()
