"""What scoring a submission costs on top of running its generator, and what the cache saves.

A TransformerNet at 256×256 over 32 test images on CPU, scored against a single-style
challenge whose style set has 32 images (K = 4 prototypes, 8 of them public), with the default
metric network (an ensemble of three seeded random texture networks) and a judge of the
default size.
Timed in the same run, each repeated and interleaved with the others so that background load
hits them alike; the table shows the fastest repeat of each:

- floor: the generator forward plus the metric networks' forward over its outputs (all the
  ensemble's members), nothing else;
- floor + statistics: the floor plus the style statistics (feature covariance and mean) of
  every style tap of every member, the least any Gram-statistics metric on these networks
  computes (with the texture networks the C×C products are most of the arithmetic: a 512-wide
  bank read at 128² positions);
- floor, one member: the floor with a single network, what the ensemble adds;
- floor, three VGG19s: the floor of engine version 2's network (three random VGG19s), what
  the texture networks replaced;
- engine: the generator forward plus the whole scoring pass of `scoring.engine.Scorer` (VGG
  taps, style statistics, content and style distances, judge probabilities and patch statistics,
  memorization signatures, palette quantiles, gallery PNGs, the Fréchet distance) against a
  reference cache built
  beforehand, as the platform builds it once per challenge;
- straightforward: the same, but building the references again for each submission (content
  features, the style set's statistics and k-means prototypes, the judge statistics of the
  style set, structural signatures) with the same engine code.

Targets: engine ≤ 1.15 × floor; straightforward ≥ 2 × engine.

    .venv/bin/python benchmarks/scoring_overhead.py [--width 16] [--judge-width 16]
        [--judge-layers 3] [--members 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import safetensors.torch
import torch
from torch.nn import functional

from models.loading import CheckpointSpec, LoadedGenerator, load_generator
from models.perceptual import DEFAULT_MEMBERS
from models.zoo.transformer_net import TransformerNet
from models.zoo.vgg import random_vgg19
from scoring.engine import (
    Judge,
    JudgeSettings,
    MetricNetwork,
    References,
    ReferenceSpec,
    Scorer,
    TaskKind,
    judge_train,
    references_build,
    tensor_sha256,
)
from scoring.engine.metrics import style_statistics

logger = logging.getLogger("benchmarks.scoring_overhead")

RESOLUTION = 256
TEST_IMAGES = 32
STYLE_IMAGES = 32
PUBLIC_STYLE_IMAGES = 8
PROTOTYPES = 4
BATCH = 8
FLOOR_TARGET = 1.15
SPEED_UP_TARGET = 2.0


def procedural_images(count: int, seed: int) -> torch.Tensor:
    """Seeded images with structure at several scales (timing does not depend on content)."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.zeros(count, 3, RESOLUTION, RESOLUTION)
    for size in (4, 16, 64):
        noise = torch.rand(count, 3, size, size, generator=generator)
        image += functional.interpolate(noise, size=RESOLUTION, mode="bilinear")
    return (image / 3).clamp(0, 1)


def transformer_net(width: int, folder: Path) -> LoadedGenerator:
    """A seeded TransformerNet loaded the way the runner's child loads a submission."""
    torch.manual_seed(0)
    path = folder / f"transformer_net_w{width}.safetensors"
    safetensors.torch.save_file(TransformerNet(width).state_dict(), path)
    generator = load_generator(CheckpointSpec(path, "transformer_net"))
    generator.prepare(torch.device("cpu"))
    return generator


class Challenge:
    def __init__(self, network: MetricNetwork, judge: Judge) -> None:
        self.network = network
        self.judge = judge
        self.content = procedural_images(TEST_IMAGES, seed=1)
        self.style = procedural_images(STYLE_IMAGES, seed=2)
        self.public = self.style[:PUBLIC_STYLE_IMAGES]
        self.spec = ReferenceSpec(
            task_kind=TaskKind.SINGLE_STYLE,
            content_sha256=tuple(tensor_sha256(image) for image in self.content),
            style_sha256=tuple(tensor_sha256(image) for image in self.style),
            public_style_sha256=tuple(tensor_sha256(image) for image in self.public),
            prototypes=PROTOTYPES,
        )

    def references(self) -> References:
        return references_build(
            self.spec,
            content_images=self.content,
            style_images=self.style,
            public_style_images=self.public,
            network=self.network,
            judge=self.judge,
        )


def floor(
    generator: LoadedGenerator,
    challenge: Challenge,
    network: MetricNetwork,
    stats: bool = False,
) -> None:
    with torch.inference_mode():
        for batch in torch.split(challenge.content, BATCH):
            members = network.member_features(generator(batch))
            if stats:
                style_statistics(members)


def engine(generator: LoadedGenerator, challenge: Challenge, references: References) -> None:
    scorer = Scorer(references, challenge.network, challenge.judge)
    generator_seconds = 0.0
    for start in range(0, TEST_IMAGES, BATCH):
        began = time.perf_counter()
        with torch.inference_mode():
            outputs = generator(challenge.content[start : start + BATCH])
        generator_seconds += time.perf_counter() - began
        scorer.update(range(start, start + outputs.shape[0]), outputs)
    scorer.finish(generator_seconds=generator_seconds, params=1)


def straightforward(generator: LoadedGenerator, challenge: Challenge) -> None:
    engine(generator, challenge, challenge.references())


def timed(run: Callable[[], None]) -> float:
    began = time.perf_counter()
    run()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=16, help="TransformerNet base width")
    parser.add_argument("--judge-width", type=int, default=JudgeSettings.width)
    parser.add_argument("--judge-layers", type=int, default=JudgeSettings.n_layers)
    parser.add_argument("--members", type=int, default=DEFAULT_MEMBERS)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    network = MetricNetwork.random(seed=0, members=arguments.members)
    single = MetricNetwork.random(seed=0)
    vgg19s = MetricNetwork(
        [random_vgg19(member) for member in range(3)], weights_sha256=None, seed=0
    )
    content, style = procedural_images(16, seed=3), procedural_images(16, seed=4)
    # Only the judge's size matters for timing; a few steps make a valid one.
    settings = JudgeSettings(steps=10, width=arguments.judge_width, n_layers=arguments.judge_layers)
    judge = judge_train(style, content, settings).judge
    challenge = Challenge(network, judge)
    with tempfile.TemporaryDirectory() as folder:
        generator = transformer_net(arguments.width, Path(folder))
        build_seconds = timed(lambda: challenge.references())
        references = challenge.references()
        floor(generator, challenge, network)  # warm-up: oneDNN builds its kernels on first use
        runs: dict[str, Callable[[], None]] = {
            "floor": lambda: floor(generator, challenge, network),
            "floor + statistics": lambda: floor(generator, challenge, network, stats=True),
            "floor, one member": lambda: floor(generator, challenge, single),
            "floor, 3 VGG19s": lambda: floor(generator, challenge, vgg19s),
            "engine": lambda: engine(generator, challenge, references),
            "straightforward": lambda: straightforward(generator, challenge),
        }
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(arguments.repeats):
            for name, run in runs.items():
                seconds[name].append(timed(run))

    best = {name: min(values) for name, values in seconds.items()}
    print(
        f"TransformerNet width {arguments.width} ({judge.config['width']}-wide judge, "
        f"{judge.config['n_layers']} layers), {TEST_IMAGES} images at "
        f"{RESOLUTION}×{RESOLUTION}, batches of {BATCH}, CPU with {torch.get_num_threads()} "
        f"threads; {network.members} {network.name} networks of width {network.width} (seed 0); "
        "style set "
        f"of {STYLE_IMAGES} "
        f"images, K = {PROTOTYPES}, {PUBLIC_STYLE_IMAGES} public; best of {arguments.repeats}"
    )
    print(f"{'':<18}{'best s':>9}{'median s':>10}{'× floor':>9}{'× floor+stats':>14}")
    for name, values in seconds.items():
        ratio = best[name] / best["floor"]
        stats_ratio = best[name] / best["floor + statistics"]
        print(
            f"{name:<18}{best[name]:>9.2f}{statistics.median(values):>10.2f}{ratio:>9.3f}"
            f"{stats_ratio:>14.3f}"
        )
    print(f"{'reference build':<18}{build_seconds:>9.2f}   (once per challenge × subset)")
    overhead = best["engine"] / best["floor"]
    stats_overhead = best["engine"] / best["floor + statistics"]
    speed_up = best["straightforward"] / best["engine"]
    print(
        f"engine / floor = {overhead:.3f}; engine / (floor + statistics) = "
        f"{stats_overhead:.3f} (target ≤ {FLOOR_TARGET}: "
        f"{'met' if stats_overhead <= FLOOR_TARGET else 'MISSED'}); engine / "
        f"floor of 3 VGG19s = {best['engine'] / best['floor, 3 VGG19s']:.3f}; "
        "straightforward / engine = "
        f"{speed_up:.2f} (target ≥ {SPEED_UP_TARGET}: "
        f"{'met' if speed_up >= SPEED_UP_TARGET else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
