"""Training a generator the platform accepts: the starter kit's trainer and the baselines'.

Pure PyTorch (plus the scoring engine's VGG taps and Gram matrices, which it reuses so the
losses are the leaderboard's metrics), no Django: the starter kit ships this package.
"""

from __future__ import annotations

from models.training.checkpointing import CHECKPOINT_NAME, STATE_NAME
from models.training.data import CropSampler, images_from_folder
from models.training.errors import TrainingError
from models.training.settings import ARCHITECTURES, GAN_LOSSES, TrainingSettings
from models.training.trainer import StepLosses, TrainingResult, loss_network, train

__all__ = [
    "ARCHITECTURES",
    "CHECKPOINT_NAME",
    "GAN_LOSSES",
    "STATE_NAME",
    "CropSampler",
    "StepLosses",
    "TrainingError",
    "TrainingResult",
    "TrainingSettings",
    "images_from_folder",
    "loss_network",
    "train",
]
