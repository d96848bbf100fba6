"""The trainer: every loss term goes down where it honestly should, runs are reproducible and
resumable, and what it saves is a checkpoint the platform loads and scores."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from statistics import fmean

import pytest
import torch

from models.loading import CheckpointSpec, load_generator, validate_checkpoint
from models.training import CHECKPOINT_NAME, TrainingError, TrainingSettings, train
from models.training.losses import discriminator_loss, generator_adversarial_loss
from models.zoo.patch_discriminator import PatchDiscriminator
from models.zoo.vgg import random_vgg19
from scoring import engine
from tests.training.images import photos, styles

TINY = TrainingSettings(
    width=4,
    crop=32,
    batch_size=2,
    steps=30,
    discriminator_width=8,
    sample_every=1000,
    checkpoint_every=1000,
)


@pytest.fixture(scope="module")
def vgg():
    return random_vgg19(0, width=8)


def early_late(history, term: str, count: int = 5) -> tuple[float, float]:
    values = [getattr(step, term) for step in history]
    return fmean(values[:count]), fmean(values[-count:])


def test_style_content_and_discriminator_losses_fall_under_the_full_objective(vgg) -> None:
    """With every term on (defaults), the style distance and the discriminator's loss fall
    from their start, and so does the generator's objective.

    The generator's adversarial loss is not among them: it rises by nature as the discriminator
    learns (a GAN is a game, not a descent); it gets its own test with a fixed discriminator.
    The content distance of a fresh TransformerNet's nearly flat output is already moderate and
    the style term pulls away from the photo, so under the full objective it need not fall in
    thirty steps: with the content term alone it must (next test).
    """
    result = train(replace(TINY, steps=40), photos(), styles(), vgg=vgg)
    assert len(result.history) == 40
    for term in ("style", "discriminator", "total"):
        first, last = early_late(result.history, term)
        assert last < first, (term, first, last)


def test_content_loss_falls_when_the_generator_learns_the_photo(vgg) -> None:
    settings = replace(TINY, style_weight=0.0, adversarial_weight=0.0, generator_lr=3e-3)
    first, last = early_late(train(settings, photos(), styles(), vgg=vgg).history, "content")
    assert last < 0.8 * first, (first, last)


def test_total_variation_term_smooths_the_output(vgg) -> None:
    """A fresh generator's output is nearly flat, so TV starts near zero and, without the term,
    grows as the generator learns texture; with a strong term it falls from its start and ends
    below the run without it. (A gentler learning rate than the default: a strong TV term
    with a large step oscillates.)"""
    settings = replace(TINY, generator_lr=2e-3)
    rough = train(settings, photos(), styles(), vgg=vgg).history
    smooth = train(replace(settings, tv_weight=400.0), photos(), styles(), vgg=vgg).history
    first, last = early_late(smooth, "tv")
    assert last < first
    assert last < early_late(rough, "tv")[1]
    assert early_late(rough, "tv")[1] > early_late(rough, "tv")[0]


@pytest.mark.parametrize("kind", ["bce", "hinge", "wgan-gp"])
def test_discriminator_loss_falls_on_a_fixed_real_fake_split(kind: str) -> None:
    torch.manual_seed(0)
    real = torch.stack(styles(size=32) * 4)
    fake = torch.stack(photos(4, size=32))
    discriminator = PatchDiscriminator(width=8, n_layers=2)
    optimiser = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(25):
        loss = discriminator_loss(kind, discriminator, real, fake, 10.0, generator)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert fmean(losses[-5:]) < fmean(losses[:5]), losses


@pytest.mark.parametrize("kind", ["bce", "hinge", "wgan-gp"])
def test_generator_adversarial_loss_falls_against_a_fixed_discriminator(kind: str) -> None:
    torch.manual_seed(0)
    discriminator = PatchDiscriminator(width=8, n_layers=2).requires_grad_(False)
    images = torch.stack(photos(2, size=32)).requires_grad_(True)
    optimiser = torch.optim.Adam([images], lr=1e-2)
    losses = []
    for _ in range(20):
        loss = generator_adversarial_loss(kind, discriminator(images * 2 - 1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0], losses


def test_adain_trains_with_a_frozen_encoder(vgg) -> None:
    settings = replace(TINY, architecture="adain", steps=6, gan_loss="hinge")
    result = train(settings, photos(), styles(families=("stripes", "mosaic")), vgg=vgg)
    encoder = result.generator.encoder
    assert not any(parameter.requires_grad for parameter in encoder.parameters())
    # The encoder is the loss network up to relu4_1 (width 4 here: the seeded VGG of width 4).
    assert torch.equal(encoder[2].weight, random_vgg19(0, width=4).features[0].weight)
    assert len(result.history) == 6


def test_same_seed_same_checkpoint_and_resume_continues_exactly(vgg, tmp_path: Path) -> None:
    settings = replace(TINY, steps=6, checkpoint_every=3, gan_loss="wgan-gp", tv_weight=0.5)
    straight = train(settings, photos(), styles(), vgg=vgg, output_dir=tmp_path / "a")
    again = train(settings, photos(), styles(), vgg=vgg, output_dir=tmp_path / "b")
    assert (tmp_path / "a" / CHECKPOINT_NAME).read_bytes() == (
        tmp_path / "b" / CHECKPOINT_NAME
    ).read_bytes()

    train(replace(settings, steps=3), photos(), styles(), vgg=vgg, output_dir=tmp_path / "c")
    resumed = train(settings, photos(), styles(), vgg=vgg, output_dir=tmp_path / "c", resume=True)
    assert [step.step for step in resumed.history] == list(range(1, 7))
    assert resumed.history == straight.history
    assert (tmp_path / "c" / CHECKPOINT_NAME).read_bytes() == (
        tmp_path / "a" / CHECKPOINT_NAME
    ).read_bytes()
    assert again.history == straight.history


def test_resume_refuses_other_settings(vgg, tmp_path: Path) -> None:
    settings = replace(TINY, steps=2)
    train(settings, photos(), styles(), vgg=vgg, output_dir=tmp_path)
    with pytest.raises(TrainingError) as caught:
        train(
            replace(settings, width=8),
            photos(),
            styles(),
            vgg=vgg,
            output_dir=tmp_path,
            resume=True,
        )
    assert caught.value.code == "resume_mismatch"
    assert "(width)" in caught.value.message


def test_checkpoint_loads_through_models_and_scores(vgg, tmp_path: Path) -> None:
    result = train(
        replace(TINY, steps=4, sample_every=2), photos(), styles(), vgg=vgg, output_dir=tmp_path
    )
    checkpoint = tmp_path / CHECKPOINT_NAME
    assert result.checkpoint == checkpoint
    assert [path.name for path in result.samples] == ["step-000002.png", "step-000004.png"]
    info = validate_checkpoint(CheckpointSpec(checkpoint, "transformer_net"))
    assert info.config == {"width": 4}
    assert str(info.io_range) == "0-255"

    generator = load_generator(CheckpointSpec(checkpoint, "transformer_net"))
    generator.prepare(torch.device("cpu"))
    hidden = torch.stack(photos(3, size=32))
    with torch.inference_mode():
        outputs = generator(hidden)
        expected = (result.generator(hidden * 255) / 255).clamp(0, 1)
    torch.testing.assert_close(outputs, expected, rtol=1e-4, atol=1e-4)

    network = engine.MetricNetwork(vgg, weights_sha256=None, seed=0)
    spec = engine.ReferenceSpec(
        task_kind=engine.TaskKind.SINGLE_STYLE,
        content_sha256=("a", "b", "c"),
        style_sha256=("s",),
        public_style_sha256=("s",),
    )
    references = engine.references_build(
        spec,
        content_images=hidden,
        style_images=torch.stack(styles(size=32)),
        public_style_images=torch.stack(styles(size=32)),
        network=network,
        judge=None,
    )
    scorer = engine.Scorer(references, network, None, gallery_size=0)
    scorer.update([0, 1, 2], outputs)
    metrics = scorer.finish(generator_seconds=0.1, params=info.param_count).metrics
    assert metrics["style_distance"] is not None
    assert metrics["style_distance"] >= 0
    assert metrics["content_distance"] is not None
    assert metrics["content_distance"] > 0


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"architecture": "unet"}, "unknown_architecture"),
        ({"gan_loss": "lsgan"}, "unknown_gan_loss"),
        ({"crop": 30}, "bad_setting"),
        ({"steps": 0}, "bad_setting"),
        ({"generator_lr": 0.0}, "bad_setting"),
        ({"style_weight": -1.0}, "bad_setting"),
    ],
)
def test_bad_settings_are_refused_with_a_code(change: dict, code: str) -> None:
    with pytest.raises(TrainingError) as caught:
        replace(TINY, **change).check()
    assert caught.value.code == code


def test_a_crop_larger_than_the_images_is_refused(vgg) -> None:
    with pytest.raises(TrainingError) as caught:
        train(replace(TINY, crop=64), photos(size=48), styles(), vgg=vgg)
    assert caught.value.code == "crop_too_large"
    assert "--crop 48" in caught.value.message
