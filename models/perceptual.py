"""What the scoring engine and the trainer share about VGG19 features: taps, normalisation,
Gram matrices, and the metric network's members.

The leaderboard's style and content metrics (scoring/engine) and the trainer's losses
(models/training) are computed on the same VGG19 taps with the same Gram matrices; both take
them from here, so that `scoring.engine` depends on `models` and never the other way.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from models.zoo import vgg

STYLE_TAPS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_TAP = "relu4_2"
TAPS = {
    "relu1_1": vgg.RELU1_1,
    "relu2_1": vgg.RELU2_1,
    "relu3_1": vgg.RELU3_1,
    "relu4_1": vgg.RELU4_1,
    "relu4_2": vgg.RELU4_2,
    "relu5_1": vgg.RELU5_1,
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Random networks side by side in the default metric network (scoring/engine/README.md); the
# trainer's random loss network is member 0 of the same seeds, as a VGG19.
DEFAULT_MEMBERS = 3


def member_seeds(seed: int, members: int) -> list[int]:
    """The seeds of a random metric network's members: `seed` itself for one, else
    seed·1000 + m, so that the ensembles of two seeds share no network."""
    return [seed] if members == 1 else [seed * 1000 + member for member in range(members)]


def gram_matrices(features: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """G = F Fᵀ / (C·H·W) for each image of a B×C×H×W batch, as B×C×C float32.

    The product runs on a B×(H·W)×C view, which is free for the channels_last activations the
    metric network returns on CPU. A sequence of tensors is an ensemble's activations member
    by member (what `MetricNetwork.member_features` gives): one Gram matrix per member,
    B×members×C×C (a single member gives B×C×C).
    """
    if not isinstance(features, torch.Tensor):
        if len(features) == 1:
            return gram_matrices(features[0])
        return torch.stack([gram_matrices(member) for member in features], dim=1)
    batch, channels, height, width = features.shape
    flat = features.permute(0, 2, 3, 1).reshape(batch, height * width, channels)
    return torch.bmm(flat.transpose(1, 2), flat) / (channels * height * width)
