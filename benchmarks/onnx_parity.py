"""Does an ONNX export score as its state dict does?

On ../shared/realworld (or --realworld): a single-style challenge of candy.jpg with the real
photos as the hidden set (built as benchmarks/scoring_validity.py builds it, judge trained and
gated), scored with the pipeline's scorers twice: `onnx/candy_nc16_256x256.onnx` as architecture
`onnx`, and `checkpoints/candy_transformernet_w16.pth` (the same network's state dict) as
`transformer_net`, each through `models.runner.run_generator`, the sandbox scoring uses. Prints
every whole-set metric of both and their relative difference; exit status 1 when one differs by
more than 1 %.

    .venv/bin/python benchmarks/onnx_parity.py [--realworld PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scoring_validity import ROOT, progress, public_photos, setup_django

TOLERANCE = 0.01
PAIRS = {
    "onnx": ("onnx/candy_nc16_256x256.onnx", "onnx"),
    "transformer_net": ("checkpoints/candy_transformernet_w16.pth", "transformer_net"),
}


def sandboxed(path: Path, architecture: str) -> Callable[[torch.Tensor], torch.Tensor]:
    from models.loading import CheckpointSpec
    from models.runner import RunLimits, run_generator

    spec = CheckpointSpec(path, architecture)

    def outputs(batch: torch.Tensor) -> torch.Tensor:
        (output,) = run_generator(spec, [batch], limits=RunLimits(time_limit_s=600))
        return output

    return outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--realworld", type=Path, default=ROOT.parent / "shared" / "realworld")
    arguments = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    realworld = arguments.realworld.resolve()
    with tempfile.TemporaryDirectory(prefix="atelier-onnx-parity-") as directory:
        var = Path(directory)
        setup_django(var)
        from scoring import engine
        from scoring.services import judge_train
        from scoring.validity import ChallengeImages, challenge_score, validity_challenge_create

        hidden, public = public_photos(sorted((realworld / "content").glob("*.jpg")), var / "p")
        challenge = validity_challenge_create(
            slug="parity-candy",
            images=ChallengeImages(
                style=[realworld / "styles" / "candy.jpg"], hidden=hidden, public=public
            ),
            resolution=256,
        )
        profile = judge_train(challenge=challenge)
        progress(f"judge {profile.judge_status} {profile.judge_error}")
        network = engine.MetricNetwork.random(0, members=3)
        scores = {}
        for name, (relative, architecture) in PAIRS.items():
            outputs = sandboxed(realworld / relative, architecture)
            scores[name] = challenge_score(challenge=challenge, outputs=outputs, network=network)
            progress(f"scored {relative}")
    graph, weights = scores["onnx"].metrics, scores["transformer_net"].metrics
    print(f"candy challenge, {len(hidden)} hidden photos at 256 px, judge {profile.judge_status}")
    print(f"| metric | {PAIRS['onnx'][0]} | {PAIRS['transformer_net'][0]} | relative |")
    print("|---|---|---|---|")
    worst = 0.0
    for metric, value in graph.items():
        other = weights[metric]
        if value is None or other is None:
            print(f"| {metric} | {value} | {other} | — |")
            continue
        relative = abs(value - other) / max(abs(other), 1e-12)
        worst = max(worst, relative)
        print(f"| {metric} | {value:.6f} | {other:.6f} | {relative:.2e} |")
    verdict = "meets" if worst <= TOLERANCE else "misses"
    print(f"largest relative difference {worst:.2e}: {verdict} the 1 % target")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
