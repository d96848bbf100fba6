"""The training loop: a feed-forward generator against a PatchGAN, with perceptual losses.

    result = train(settings, content_images, style_images, output_dir=Path("run"))

Each step draws `batch_size` content crops and as many style crops, runs the generator once,
updates the discriminator on the (detached) outputs against the style crops, then updates the
generator on L_total = λ_adv·L_GAN + λ_c·L_content + λ_s·L_style + λ_tv·TV with the updated
discriminator (pix2pix's order). Adam with β = (0.5, 0.999) and one learning rate each.

Every random draw (initial weights, crops, flips, WGAN-GP mixing weights) comes from one
`torch.Generator` seeded with `settings.seed`, and the loop runs under the scoring engine's
`deterministic()` flags: the same settings and images give the same checkpoint on the same
machine, and a resumed run continues exactly where the interrupted one stopped.

What a run writes (the checkpoint and the training state) and how `resume=True` reads it back
are in `checkpointing.py`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from models.determinism import deterministic
from models.io_range import IORange
from models.loading import CheckpointSpec, load_network
from models.perceptual import (
    CONTENT_TAP,
    DEFAULT_MEMBERS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    STYLE_TAPS,
    gram_matrices,
    member_seeds,
)
from models.training.checkpointing import checkpoint_save, resumable, run_restore, state_save
from models.training.data import CropSampler
from models.training.errors import NON_FINITE_LOSS, TrainingError
from models.training.losses import (
    Features,
    Perceptual,
    content_loss,
    discriminator_loss,
    generator_adversarial_loss,
    style_loss,
    total_variation,
)
from models.training.samples import sample_grid_save
from models.training.settings import TrainingSettings
from models.zoo import adain, transformer_net
from models.zoo.patch_discriminator import PatchDiscriminator
from models.zoo.vgg import VGG19, random_vgg19

logger = logging.getLogger(__name__)

SAMPLES_FOLDER = "samples"
IO_RANGES = {"transformer_net": IORange.BYTE, "adain": IORange.UNIT}
BETAS = (0.5, 0.999)
DISCRIMINATOR_INIT_STD = 0.02  # pix2pix's "normal" initialisation
SAMPLE_COUNT = 4
# The taps of adain's encoder, in torchvision's VGG19 `features` indices, by encoder index.
_ADAIN_ENCODER_CONVS = {2: 0, 5: 2, 9: 5, 12: 7, 16: 10, 19: 12, 22: 14, 25: 16, 29: 19}


@dataclass(frozen=True)
class StepLosses:
    """The losses of one step (the generator's after its update's forward pass)."""

    step: int
    content: float
    style: float
    adversarial: float
    tv: float
    discriminator: float
    total: float


@dataclass
class TrainingResult:
    generator: nn.Module
    settings: TrainingSettings
    architecture: str
    config: dict[str, Any]
    io_range: IORange
    history: list[StepLosses]
    seconds: float
    checkpoint: Path | None = None
    samples: list[Path] = field(default_factory=list)


ProgressCallback = Callable[[StepLosses, int], None]


def loss_network(*, vgg_weights: Path | str | None, vgg_seed: int) -> VGG19:
    """The loss network: the VGG19 weights file when given (the scorer's calibrated network),
    else a seeded random VGG19; frozen, in eval mode, channels_last."""
    if vgg_weights:
        network = load_network(CheckpointSpec(Path(vgg_weights), "vgg19"))
        assert isinstance(network, VGG19)
    else:
        network = random_vgg19(member_seeds(vgg_seed, DEFAULT_MEMBERS)[0])
    return network.eval().requires_grad_(False).to(memory_format=torch.channels_last)


def train(
    settings: TrainingSettings,
    content_images: Sequence[torch.Tensor],
    style_images: Sequence[torch.Tensor],
    *,
    output_dir: Path | None = None,
    device: torch.device | str = "cpu",
    vgg: VGG19 | None = None,
    resume: bool = False,
    progress: ProgressCallback | None = None,
) -> TrainingResult:
    """Train a generator; with `output_dir`, write checkpoints, state and sample grids there."""
    settings = settings.check()
    run = _Run(settings, content_images, style_images, torch.device(device), vgg)
    if resume and output_dir is not None and resumable(output_dir):
        run.restore(output_dir)
    started = time.perf_counter()
    samples: list[Path] = []
    checkpoint: Path | None = None
    with deterministic():
        while run.step < settings.steps:
            losses = run.advance()
            if progress is not None:
                progress(losses, settings.steps)
            last = run.step == settings.steps
            if output_dir is not None and (last or run.step % settings.sample_every == 0):
                samples.append(run.save_samples(output_dir))
            if output_dir is not None and (last or run.step % settings.checkpoint_every == 0):
                checkpoint = run.save(output_dir)
    if output_dir is not None and checkpoint is None and run.step > 0:
        checkpoint = run.save(output_dir)  # a resumed run that had nothing left to do
    seconds = time.perf_counter() - started
    logger.info("trained %s for %d steps in %.1f s", settings.architecture, run.step, seconds)
    return TrainingResult(
        generator=run.generator.eval(),
        settings=settings,
        architecture=settings.architecture,
        config=run.config,
        io_range=IO_RANGES[settings.architecture],
        history=run.history,
        seconds=seconds,
        checkpoint=checkpoint,
        samples=samples,
    )


class _Run:
    """The networks, optimisers, data and random state of one run, one step at a time."""

    def __init__(
        self,
        settings: TrainingSettings,
        content_images: Sequence[torch.Tensor],
        style_images: Sequence[torch.Tensor],
        device: torch.device,
        vgg: VGG19 | None,
    ) -> None:
        self.settings = settings
        self.device = device
        self.step = 0
        self.history: list[StepLosses] = []
        self.content = CropSampler(content_images, settings.crop, "content")
        self.styles = CropSampler(style_images, settings.crop, "style")
        self.random = torch.Generator().manual_seed(settings.seed)
        network = (
            vgg if vgg is not None else loss_network(vgg_weights=None, vgg_seed=settings.vgg_seed)
        )
        self.perceptual = Perceptual(network).to(device)
        self.config = {"width": settings.width}
        self.generator = self._generator(network).to(device)
        self.discriminator = self._discriminator().to(device)
        self.generator_optimiser = torch.optim.Adam(
            [p for p in self.generator.parameters() if p.requires_grad],
            lr=settings.generator_lr,
            betas=BETAS,
        )
        self.discriminator_optimiser = torch.optim.Adam(
            self.discriminator.parameters(), lr=settings.discriminator_lr, betas=BETAS
        )
        self.style_target = self._style_target(style_images)
        self.sample_content, self.sample_style = self._sample_batch(content_images, style_images)

    # --- construction -----------------------------------------------------------------

    def _generator(self, network: VGG19) -> nn.Module:
        """A freshly initialised generator; AdaIN's encoder is a frozen VGG19 of its width."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**31, (1,), generator=self.random)))
            if self.settings.architecture == "transformer_net":
                return transformer_net.TransformerNet(self.settings.width)
            module = adain.AdaIN(self.settings.width)
        width = self.settings.width
        if network.features[0].out_channels != width:
            network = random_vgg19(self.settings.vgg_seed, width)
        _adain_encoder_from_vgg(module.encoder, network)
        module.encoder.requires_grad_(False)
        return module

    def _discriminator(self) -> PatchDiscriminator:
        with torch.device("meta"):
            module = PatchDiscriminator(
                self.settings.discriminator_width, self.settings.discriminator_layers
            )
        module.to_empty(device="cpu")
        for layer in module.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.normal_(layer.weight, 0.0, DISCRIMINATOR_INIT_STD, generator=self.random)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
        return module.train()

    @torch.no_grad()
    def _style_target(self, style_images: Sequence[torch.Tensor]) -> Features | None:
        """For a single style, the mean Gram of the style images (the scorer's K = 1 target)."""
        if self.settings.architecture != "transformer_net":
            return None
        total: Features = {}
        for image in style_images:
            grams = self.perceptual.grams(image.unsqueeze(0).to(self.device))
            for tap, gram in grams.items():
                total[tap] = total[tap] + gram if tap in total else gram.clone()
        return {tap: gram / len(style_images) for tap, gram in total.items()}

    def _sample_batch(
        self, content_images: Sequence[torch.Tensor], style_images: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed images for the sample grids: the first photos and styles, centre-cropped."""
        count = min(SAMPLE_COUNT, len(content_images))
        content = torch.stack(
            [_centre(image, self.settings.crop) for image in content_images[:count]]
        )
        styles = [_centre(image, self.settings.crop) for image in style_images]
        style = torch.stack([styles[index % len(styles)] for index in range(count)])
        return content, style

    # --- one step -----------------------------------------------------------------------

    def stylise(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Generator output in [0, 1]: clamped as the platform clamps it, with the gradient
        passed straight through so a pixel outside the range can still be pulled back."""
        if self.settings.architecture == "transformer_net":
            raw = self.generator(content * 255.0) / 255.0
        else:
            raw = self.generator(content, style)
        return raw + (raw.clamp(0.0, 1.0) - raw).detach()

    def advance(self) -> StepLosses:
        settings = self.settings
        content, _ = self.content.sample(settings.batch_size, self.random)
        style, _ = self.styles.sample(settings.batch_size, self.random)
        content, style = content.to(self.device), style.to(self.device)
        self.generator.train()
        output = self.stylise(content, style)

        self.discriminator.requires_grad_(True)
        d_loss = discriminator_loss(
            settings.gan_loss,
            self.discriminator,
            style,
            output.detach(),
            settings.gradient_penalty,
            self.random,
        )
        self.discriminator_optimiser.zero_grad(set_to_none=True)
        d_loss.backward()
        self.discriminator_optimiser.step()

        self.discriminator.requires_grad_(False)
        features = self.perceptual.features(output)
        with torch.no_grad():
            reference = self.perceptual.features(content, (CONTENT_TAP,))[CONTENT_TAP]
            targets = self.style_target or self.perceptual.grams(style)
        terms = {
            "content": content_loss(features[CONTENT_TAP], reference),
            "style": style_loss({tap: gram_matrices(features[tap]) for tap in STYLE_TAPS}, targets),
            "adversarial": generator_adversarial_loss(
                settings.gan_loss, self.discriminator(output * 2 - 1)
            ),
            "tv": total_variation(output),
        }
        total = (
            settings.adversarial_weight * terms["adversarial"]
            + settings.content_weight * terms["content"]
            + settings.style_weight * terms["style"]
            + settings.tv_weight * terms["tv"]
        )
        self.generator_optimiser.zero_grad(set_to_none=True)
        total.backward()
        self.generator_optimiser.step()

        self.step += 1
        values = {name: float(value.detach()) for name, value in terms.items()}
        values["discriminator"] = float(d_loss.detach())
        values["total"] = float(total.detach())
        for name, value in values.items():
            if not math.isfinite(value):
                raise TrainingError(
                    "non_finite_loss",
                    NON_FINITE_LOSS.format(term=name, value=value, step=self.step),
                )
        losses = StepLosses(step=self.step, **values)
        self.history.append(losses)
        return losses

    # --- files --------------------------------------------------------------------------

    def save(self, folder: Path) -> Path:
        """The checkpoint the platform accepts, and the state a resumed run needs."""
        checkpoint = checkpoint_save(
            folder,
            self.generator,
            settings=self.settings,
            config=self.config,
            io_range=IO_RANGES[self.settings.architecture],
            step=self.step,
        )
        state_save(
            folder,
            discriminator=self.discriminator,
            generator_optimiser=self.generator_optimiser,
            discriminator_optimiser=self.discriminator_optimiser,
            random=self.random,
            settings=self.settings,
            step=self.step,
            history=[asdict(losses) for losses in self.history],
        )
        return checkpoint

    def restore(self, folder: Path) -> None:
        resumed = run_restore(
            folder,
            settings=self.settings,
            generator=self.generator,
            discriminator=self.discriminator,
            generator_optimiser=self.generator_optimiser,
            discriminator_optimiser=self.discriminator_optimiser,
            random=self.random,
        )
        self.step = resumed.step
        self.history = [StepLosses(**entry) for entry in resumed.history]
        logger.info("resumed %s at step %d", folder, self.step)

    @torch.no_grad()
    def save_samples(self, folder: Path) -> Path:
        self.generator.eval()
        content = self.sample_content.to(self.device)
        style = self.sample_style.to(self.device)
        output = self.stylise(content, style).cpu()
        columns = [self.sample_content, output]
        if self.settings.architecture == "adain":
            columns.insert(1, self.sample_style)
        path = folder / SAMPLES_FOLDER / f"step-{self.step:06d}.png"
        sample_grid_save(columns, path)
        return path


def _centre(image: torch.Tensor, size: int) -> torch.Tensor:
    height, width = image.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return image[:, top : top + size, left : left + size]


def _adain_encoder_from_vgg(encoder: nn.Sequential, network: VGG19) -> None:
    """AdaIN's encoder as VGG19 up to relu4_1, with its 1×1 input layer doing the ImageNet
    normalisation the metric network's callers do, so its features are the loss network's."""
    with torch.no_grad():
        std = torch.tensor(IMAGENET_STD)
        encoder[0].weight.copy_(torch.diag(1.0 / std).view(3, 3, 1, 1))
        encoder[0].bias.copy_(-torch.tensor(IMAGENET_MEAN) / std)
        for index, source in _ADAIN_ENCODER_CONVS.items():
            encoder[index].weight.copy_(network.features[source].weight)
            encoder[index].bias.copy_(network.features[source].bias)
