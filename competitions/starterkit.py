"""The starter kit of a challenge: public data, the trainer, the client, exact commands.

Built at download time from this repository's own sources, so the kit can never drift from the
code that scores it: the `models/` package (architectures, checkpoint formats, the trainer in
`models/training/`) and `scoring/engine/` (whose VGG taps and Gram matrices the trainer's
losses are), plus a thin `train.py`, `requirements.txt`, `README.md`, `challenge.json` with
the conventions and metric definitions, the public images, and the `atelier` client when this
checkout has it.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.urls import reverse

from competitions.datazip import SPOOL_BYTES, archive_name
from competitions.models import Challenge, ChallengeImage
from competitions.training import baseline_settings
from models.architectures import Inputs, Role, architectures, get_architecture
from scoring.engine import METRIC_DIRECTIONS

REPOSITORY = Path(__file__).resolve().parents[1]
# The sources the trainer imports, as folders of this repository (every .py file under them).
SOURCE_PACKAGES = ("models", "scoring/engine")
# `scoring` is a Django app; the kit gets an empty package in its place, never the app's code.
EMPTY_PACKAGES = ("scoring/__init__.py",)
CLIENT = REPOSITORY / "atelier_cli.py"
REQUIREMENTS = """\
# torch is pinned to the release the platform scores with.
torch==2.13.0
numpy>=2
scipy>=1.14
safetensors>=0.4.5
Pillow>=11
requests>=2.32
# The platform's checkpoint readers know ONNX; export_onnx.py needs torch.onnx's exporter.
onnx>=1.17
onnxruntime>=1.20
onnxscript>=0.5
"""
TRAIN_PY = '''\
#!/usr/bin/env python3
"""Train a generator for this challenge; see README.md (python train.py --help for options)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from models.training.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
'''
EXPORT_ONNX_PY = '''\
#!/usr/bin/env python3
"""Export a trained checkpoint to ONNX, to submit it as `--arch onnx` (see README.md)."""

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from models.loading import CheckpointSpec, load_generator  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint", type=Path, help="e.g. run/checkpoint.safetensors")
    parser.add_argument("--arch", required=True, help="the architecture it was trained as")
    parser.add_argument("--out", type=Path, default=Path("run/generator.onnx"))
    arguments = parser.parse_args()
    resolution = json.loads((HERE / "challenge.json").read_text())["resolution"]
    generator = load_generator(CheckpointSpec(arguments.checkpoint, arguments.arch))
    network = generator.module.eval()
    # The graph takes and returns the architecture's own pixel range, with any batch size,
    # height and width.
    dynamic = torch.export.Dim.DYNAMIC
    torch.onnx.export(
        network,
        (torch.rand(1, 3, resolution, resolution),),
        arguments.out,
        input_names=["content"],
        output_names=["stylised"],
        dynamic_shapes=({0: dynamic, 2: dynamic, 3: dynamic},),
        external_data=False,
    )
    io_range = generator.info.io_range.value
    print(f"wrote {arguments.out}; submit it with --arch onnx --io-range {io_range}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''
# Steps of the README's train command: a few minutes on a laptop CPU; more is better.
README_STEPS = 300
METRIC_DEFINITIONS = {
    "content_distance": "mean over images of 1 − cos between the scene layouts of the output "
    "and of its photo: the metric network's layout features (edges at the quarter scale) "
    "averaged over 16-pixel cells, centred per channel",
    "style_distance": "mean over images of ⅒ Σ_k ‖S_k(out) − T_k‖² / (‖S_k(out)‖² + ‖T_k‖²) "
    "over ten statistics: the feature covariance (centred Gram matrix) and the feature mean of "
    "each of the metric network's five style taps; each term in [0, 1]; T: the nearest of K "
    "style prototypes (single style; K = 1: the mean statistics of all style images, hidden "
    "ones included) or the paired style image (arbitrary style)",
    "palette_distance": "mean over images of the sliced Wasserstein-2 distance between the "
    "output's pixel colours and the style images' in CIELAB (32 fixed directions, 64 "
    "quantiles), divided by 100",
    "judge_realism": "mean patch probability of 'this style' from the challenge's PatchGAN "
    "judge, trained on the style images against photos, degraded photos, other artworks and "
    "textures; missing when the judge failed its held-out check",
    "deception_rate": "share of outputs whose mean judge probability exceeds the judge's "
    "threshold (the probability above which at most 5 % of held-out photos fall, at least 0.5)",
    "judge_fd": "Fréchet distance between the judge's patch features of the outputs and of the "
    "style images",
    "memorization_rate": "share of outputs that copy a public style image (or its mirror) "
    "instead of painting their photo: structural correlation above 0.8 and above the one "
    "with their own photo",
    "params": "parameter count of the generator",
    "ms_per_image": "generator time per image on the scoring worker",
    "runtime_ratio": "generator time ÷ the metric network's time on the same outputs",
    "composite": "(1 + content_distance)·(1 + style_distance ÷ s₀)·(1 + palette_distance ÷ p₀)"
    "·(2 − judge_realism)·(1 + 9·memorization_rate), s₀ and p₀ the unchanged test photos' "
    "distances; without a passing judge the (2 − judge_realism) factor is left out; the default "
    "ranking, lower is better",
}

README = """\
# {title}: starter kit

Everything needed to train a generator for the Atelier challenge `{slug}` and submit it:

```
data/content/      {content_count} public photos to stylise ({resolution}×{resolution} RGB PNG)
data/style/        {style_count} public style images
challenge.json     resolution, task kind, I/O conventions, metric definitions
train.py           the trainer (the platform's own: models/training/)
export_onnx.py     exports a trained checkpoint to ONNX (optional)
atelier.py         the command-line client (submit, status, leaderboard)
models/, scoring/  the platform's architectures, checkpoint formats and metric code
```

## Train

With Python 3.11, from this folder:

```
python3 -m venv .venv
. .venv/bin/activate
pip install -r requirements.txt
python train.py --steps {steps} --out run
```

(On Windows: `.venv\\Scripts\\activate` instead of the second line.) This trains a
`{architecture}` generator with L = L_GAN + λ_c·L_content + λ_s·L_style against a PatchGAN
discriminator, prints its losses as it goes, writes sample grids to `run/samples/` and the
checkpoint to `run/checkpoint.safetensors`. It uses a GPU when PyTorch sees one
(`--device cpu` to refuse). `python train.py --help` lists every option (width, crop, loss
weights, `--gan-loss hinge|wgan-gp`, learning rates, `--tv-weight`, `--seed`); an interrupted
run continues with the same command plus `--resume`. The defaults (from challenge.json) are
the organizers' baseline; a wider network (`--width 16`), larger crops and more steps do
better.

The losses use {network_text} Real VGG19 weights
give better-looking results: `--vgg-weights vgg19-dcbb9e9d.pth` (torchvision's file; the
kit does not download anything).

## Submit

Get your API token from your account page ({token_url}), then:

```
export ATELIER_URL={site_url}
export ATELIER_TOKEN=your-token
python atelier.py submit --challenge {slug} --arch {architecture} run/checkpoint.safetensors
```

Add `--wait` to follow the scoring; `python atelier.py status ID` and
`python atelier.py leaderboard {slug}` show where you stand. The public data may be used only
for this challenge; by downloading it you accepted the rules.

## Export to ONNX (optional)

The platform also runs ONNX models (standard operators, weights inside the file, one image
input, or content then style), with ONNX Runtime. To export the trained generator:

```
python export_onnx.py run/checkpoint.safetensors --arch {architecture} --out run/generator.onnx
python atelier.py submit --challenge {slug} --arch onnx --io-range {io_range} run/generator.onnx
```

The graph keeps the architecture's pixel range ({io_range} for `{architecture}`; an ONNX
model's default is 0..255, so say which with `--io-range`), and dynamic batch size, height and
width. A graph exported at a fixed size must match this challenge's {resolution}×{resolution}.
"""


def starter_kit_zip(challenge: Challenge) -> IO[bytes]:
    """Build the kit as a zip under one top folder; returns a rewound file object."""
    top = f"{challenge.slug}-starter-kit"
    meta = challenge_json(challenge)
    # Returned open: the response streams it and closes it when done.
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for arcname, path in kit_sources():
            archive.write(path, f"{top}/{arcname}")
        for empty in EMPTY_PACKAGES:
            archive.writestr(f"{top}/{empty}", "")
        if CLIENT.exists():
            archive.write(CLIENT, f"{top}/atelier.py")
        archive.writestr(f"{top}/train.py", TRAIN_PY)
        archive.writestr(f"{top}/export_onnx.py", EXPORT_ONNX_PY)
        archive.writestr(f"{top}/requirements.txt", REQUIREMENTS)
        images = meta["images"]
        used: set[str] = set()
        for image in challenge.images.filter(split=ChallengeImage.Split.PUBLIC).order_by("pk"):
            name = archive_name(image, used)
            images[image.kind].append({"file": f"data/{name}", "sha256": image.sha256})
            with default_storage.open(image.file.name, "rb") as handle:
                # PNGs are compressed already.
                archive.writestr(
                    f"{top}/data/{name}", handle.read(), compress_type=zipfile.ZIP_STORED
                )
        archive.writestr(f"{top}/challenge.json", json.dumps(meta, indent=2) + "\n")
        archive.writestr(f"{top}/README.md", readme(challenge, meta))
    spool.seek(0)
    return spool


def kit_sources() -> list[tuple[str, Path]]:
    """(name in the kit, file) for every Python source of the packages the trainer needs."""
    files = []
    for package in SOURCE_PACKAGES:
        for path in sorted((REPOSITORY / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                files.append((path.relative_to(REPOSITORY).as_posix(), path))
    return files


def challenge_json(challenge: Challenge) -> dict[str, Any]:
    """The challenge's conventions for code: what a generator gets, returns, and is scored on."""
    arbitrary = challenge.task_kind == Challenge.TaskKind.ARBITRARY_STYLE
    wanted = Inputs.CONTENT_STYLE if arbitrary else Inputs.CONTENT
    calibrated = bool(settings.ATELIER_VGG19_WEIGHTS)
    baseline = baseline_settings(challenge=challenge)
    return {
        "slug": challenge.slug,
        "title": challenge.title,
        "task_kind": challenge.task_kind,
        "resolution": challenge.resolution,
        "io": {
            "generator_inputs": ["content", "style"] if arbitrary else ["content"],
            "input": f"float32 RGB, N×3×{challenge.resolution}×{challenge.resolution}, in the "
            "generator's io_range",
            "output": "the same shape, in the generator's io_range; clamped to it, then "
            "mapped to [0, 1] for scoring",
            "io_ranges": ["0-1", "0-255", "-1-1"],
            "checkpoint_formats": [
                ".safetensors",
                ".pt",
                ".pth",
                ".model",
                ".ckpt",
                ".bin",
                ".pt2",
                ".onnx",
            ],
            "architectures": {
                entry.name: {"io_range": str(entry.io_range), "description": entry.description}
                for entry in architectures(Role.GENERATOR)
                if entry.inputs == wanted or entry.infer_config is None
            },
        },
        "metrics": {
            name: {"direction": str(direction), "definition": METRIC_DEFINITIONS[name]}
            for name, direction in METRIC_DIRECTIONS.items()
        },
        "metric_network": {
            "network": "vgg19" if calibrated else "random-texture",
            "members": 1 if calibrated else settings.ATELIER_VGG19_MEMBERS,
            "taps": {
                "content": "relu3_1",
                "style": ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
            },
            "normalisation": "ImageNet mean and std on [0, 1] RGB",
            "calibrated": calibrated,
            "seed": None if calibrated else settings.ATELIER_VGG19_SEED,
        },
        # The organizers' baseline settings: the README's command reproduces the baseline.
        "training": {
            "architecture": baseline.architecture,
            "width": baseline.width,
            "crop": baseline.crop,
            "batch_size": baseline.batch_size,
            "vgg_seed": baseline.vgg_seed,
        },
        "images": {"content": [], "style": []},
    }


def readme(challenge: Challenge, meta: dict[str, Any]) -> str:
    if meta["metric_network"]["calibrated"]:
        network_text = (
            "the published VGG19 weights this challenge scores with: train with them too "
            "(`--vgg-weights`); without them the trainer falls back to a random VGG19."
        )
    else:
        network_text = (
            "a VGG19 with seeded random weights (seed "
            f"{meta['metric_network']['seed']}, read from challenge.json), a recognised "
            "texture model that gives rougher images. The leaderboard measures with other, "
            "independent random networks (wide texture filter banks), as it would a model "
            "trained with any VGG."
        )
    site = settings.ATELIER_SITE_URL.rstrip("/")
    return README.format(
        title=challenge.title,
        slug=challenge.slug,
        resolution=challenge.resolution,
        content_count=len(meta["images"]["content"]),
        style_count=len(meta["images"]["style"]),
        steps=README_STEPS,
        architecture=meta["training"]["architecture"],
        io_range=str(get_architecture(meta["training"]["architecture"]).io_range),
        network_text=network_text,
        token_url=site + reverse("api_token"),
        site_url=site,
    )
