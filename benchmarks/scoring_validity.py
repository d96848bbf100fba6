"""Does the default scoring rank real style-transfer generators the way a person would?

Built on ../shared/realworld (or --realworld): published fast-neural-style checkpoints
(`checkpoints/{style}_*`), the artworks they were trained on (`styles/`), real photos
(`content/`) and a bank of other artworks (`style-bank/`). Through the platform's own services
(bundle import, judge training with its gate, reference caches, the pipeline's scorers):

- one single-style challenge per artwork of `styles/`, and one per style-bank artwork (the
  first --bank, sorted by name) where no checkpoint is right; the real photos are the hidden
  test set; the public content photos are further real photos when there are at least six
  (every third goes public), otherwise the four corner crops of each photo at its own
  resolution (other framings of the same scenes, never the hidden images themselves);
- entries on every challenge: every checkpoint (own style where its name starts with the
  challenge's style, wrong style otherwise) and the controls of `scoring.validity.CONTROLS`
  (identity, blur, posterize, colour jitter, cartoon, copy of the style image, average colour);
- runs: metric-network seeds × the first judge seed, and the first network seed × the other
  judge seeds (judges retrained); each run scores every entry on every challenge.

It prints the ranking matrix of the first run, the top-1 of every run, the judges' checks, and
the targets, each PASS or FAIL (exit status 1 when any fails):
- own-style checkpoint first on the composite in every challenge that has one; every control
  below every own-style checkpoint; every wrong-style checkpoint below every own-style one on
  style_distance and on the composite (every run);
- the same top-1 in every run; Kendall τ of the whole composite order between any two runs
  ≥ 0.9, on every challenge;
- every judge checked on ≥ 64 held-out tiles (its balanced accuracy is shown); identity's
  deception_rate ≤ 0.1 and own-style checkpoints' ≥ 0.5 wherever a judge scores.

    .venv/bin/python benchmarks/scoring_validity.py [--realworld PATH] [--bank 4]
        [--network-seeds 0,1,2] [--judge-seeds 0,1,2] [--resolution 256] [--json FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from scipy.stats import kendalltau

if TYPE_CHECKING:
    from competitions.models import Challenge
    from scoring import engine

ROOT = Path(__file__).resolve().parents[1]
SPLIT_PHOTOS_FROM = 6
TAU_TARGET = 0.9
IDENTITY_DECEPTION_MAX = 0.1
OWN_DECEPTION_MIN = 0.5
MIN_TILES = 64
COLUMNS = (
    ("composite", "composite"),
    ("style_distance", "style"),
    ("palette_distance", "palette"),
    ("content_distance", "content"),
    ("judge_realism", "realism"),
    ("deception_rate", "deceive"),
)


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str  # "own", "wrong" or "control"
    outputs: Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Run:
    label: str
    network_seed: int
    judge_seed: int
    # challenge slug → entry name → whole-set metrics
    scores: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)
    # challenge slug → entry name → per-image values and baselines (for the JSON)
    details: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    judges: dict[str, dict[str, Any]] = field(default_factory=dict)


def progress(message: str) -> None:
    """A line on stderr: the run takes a while and Django's logging config mutes INFO."""
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def setup_django(var: Path) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "ATELIER_VAR_DIR": str(var),
            "DATABASE_URL": f"sqlite:///{var / 'atelier.sqlite3'}",
            "CELERY_BROKER_URL": "filesystem://localhost//",
            "ATELIER_MEDIA_ROOT": str(var / "media"),
            "ATELIER_LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def public_photos(photos: list[Path], folder: Path) -> tuple[list[Path], list[Path]]:
    """(hidden, public): a split of the real photos, or crops of them when they are few."""
    if len(photos) >= SPLIT_PHOTOS_FROM:
        public = photos[::3]
        return [photo for photo in photos if photo not in public], public
    from scoring.validity import corner_crops

    return photos, corner_crops(photos, folder)


def checkpoint_entries(realworld: Path, style: str | None) -> list[Entry]:
    from models.loading import CheckpointSpec, load_generator

    entries = []
    for path in sorted((realworld / "checkpoints").iterdir()):
        generator = load_generator(CheckpointSpec(path, "transformer_net"))
        kind = "own" if style is not None and path.name.startswith(f"{style}_") else "wrong"
        entries.append(Entry(path.stem, kind, generator))
    return entries


def control_entries(style_images: torch.Tensor) -> list[Entry]:
    from scoring.validity import CONTROLS

    return [
        Entry(name, "control", lambda photos, control=control: control(photos, style_images))
        for name, control in CONTROLS.items()
    ]


def judges_train(challenges: list[Challenge], seed: int, run: Run) -> None:
    from scoring.models import ScoringProfile
    from scoring.services import judge_train, scoring_profile_get

    for challenge in challenges:
        profile = scoring_profile_get(challenge=challenge)
        ScoringProfile.objects.filter(pk=profile.pk).update(judge_seed=seed)
        started = time.perf_counter()
        profile = judge_train(challenge=challenge)
        summary = profile.judge_summary
        run.judges[challenge.slug] = {
            "status": profile.judge_status,
            "reason": profile.judge_error,
            "accuracy": summary.get("heldout_accuracy"),
            "tiles": summary.get("heldout_tiles"),
            "by_set": summary.get("heldout_by_set"),
            "threshold": summary.get("deception_threshold"),
            "seconds": time.perf_counter() - started,
        }
        progress(f"judge of {challenge.slug} (seed {seed}): {run.judges[challenge.slug]}")


def score_run(
    run: Run,
    challenges: list[Challenge],
    entries: dict[str, list[Entry]],
    network: engine.MetricNetwork,
) -> None:
    from scoring.validity import challenge_score

    for challenge in challenges:
        run.scores[challenge.slug] = {}
        run.details[challenge.slug] = {}
        for entry in entries[challenge.slug]:
            whole = challenge_score(challenge=challenge, outputs=entry.outputs, network=network)
            run.scores[challenge.slug][entry.name] = whole.metrics
            run.details[challenge.slug][entry.name] = {
                board: {
                    "per_image": {name: list(values) for name, values in result.per_image.items()},
                    "baselines": dict(result.baselines),
                    "threshold": result.deception_threshold,
                }
                for board, result in whole.results.items()
            }
        progress(f"{run.label}: scored on {challenge.slug}")


def _value(metrics: dict[str, float | None], name: str) -> float:
    value = metrics.get(name)
    return float("inf") if value is None else float(value)


def print_matrix(run: Run, entries: dict[str, list[Entry]]) -> None:
    print(f"\n## Ranking matrix ({run.label})")
    for slug, scores in run.scores.items():
        kinds = {entry.name: entry.kind for entry in entries[slug]}
        judge = run.judges.get(slug, {})
        print(
            f"\n### {slug}: judge {judge.get('status')}, held-out accuracy "
            f"{_number(judge.get('accuracy'))} on {judge.get('tiles')} tiles, "
            f"threshold {_number(judge.get('threshold'))}"
        )
        print("| rank | entry | kind | " + " | ".join(label for _, label in COLUMNS) + " |")
        print("|---" * (3 + len(COLUMNS)) + "|")
        ordered = sorted(scores, key=lambda name: _value(scores[name], "composite"))
        for rank, name in enumerate(ordered, 1):
            cells = " | ".join(_number(scores[name].get(metric)) for metric, _ in COLUMNS)
            print(f"| {rank} | {name} | {kinds[name]} | {cells} |")


def _number(value: object) -> str:
    return "—" if value is None else f"{float(value):.3f}"  # type: ignore[arg-type]


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


def top1(scores: dict[str, dict[str, float | None]]) -> str:
    return min(scores, key=lambda name: _value(scores[name], "composite"))


def ordering_checks(runs: list[Run], entries: dict[str, list[Entry]]) -> list[Check]:
    failures: dict[str, list[str]] = {"first": [], "controls": [], "wrong": []}
    for run in runs:
        for slug, scores in run.scores.items():
            kinds = {entry.name: entry.kind for entry in entries[slug]}
            own = [name for name in scores if kinds[name] == "own"]
            if not own:
                continue
            composite = {name: _value(scores[name], "composite") for name in scores}
            style = {name: _value(scores[name], "style_distance") for name in scores}
            worst_composite = max(composite[name] for name in own)
            worst_style = max(style[name] for name in own)
            best = top1(scores)
            if kinds[best] != "own":
                failures["first"].append(f"{run.label}/{slug}: {best} first")
            for name, kind in kinds.items():
                if kind == "control" and composite[name] <= worst_composite:
                    failures["controls"].append(f"{run.label}/{slug}: {name}")
                beaten = composite[name] <= worst_composite or style[name] <= worst_style
                if kind == "wrong" and beaten:
                    failures["wrong"].append(f"{run.label}/{slug}: {name}")
    texts = {
        "first": "own-style checkpoint first on the composite",
        "controls": "every control below every own-style checkpoint (composite)",
        "wrong": "every wrong-style checkpoint below every own-style one (style, composite)",
    }
    return [
        Check(texts[key], not found, "; ".join(found[:6]) or "all runs")
        for key, found in failures.items()
    ]


def stability_checks(runs: list[Run]) -> list[Check]:
    if len(runs) < 2:
        return [Check("stability across seeds", False, "one run only: nothing to compare")]
    unstable = [
        slug for slug in runs[0].scores if len({top1(run.scores[slug]) for run in runs}) > 1
    ]
    taus = []
    for slug in runs[0].scores:
        names = list(runs[0].scores[slug])
        for first, second in itertools.combinations(runs, 2):
            tau = kendalltau(
                [_value(first.scores[slug][name], "composite") for name in names],
                [_value(second.scores[slug][name], "composite") for name in names],
            ).statistic
            taus.append((float(tau), f"{slug} {first.label}~{second.label}"))
    lowest = min(taus)
    mean = sum(tau for tau, _ in taus) / len(taus)
    return [
        Check("same top-1 in every run", not unstable, ", ".join(unstable) or "all"),
        Check(
            f"Kendall τ of the composite order between runs ≥ {TAU_TARGET}",
            lowest[0] >= TAU_TARGET,
            f"min {lowest[0]:.3f} ({lowest[1]}), mean {mean:.3f}",
        ),
    ]


def judge_checks(runs: list[Run], entries: dict[str, list[Entry]]) -> list[Check]:
    judges = {(run.judge_seed, slug): judge for run in runs for slug, judge in run.judges.items()}
    few, failed = [], []
    for (seed, slug), judge in judges.items():
        if (judge["tiles"] or 0) < MIN_TILES:
            few.append(f"seed {seed}/{slug}")
        if judge["status"] != "ready":
            failed.append(f"seed {seed}/{slug}: {judge['reason']}")
    deception = []
    for run in runs:
        for slug, scores in run.scores.items():
            if run.judges[slug]["status"] != "ready":
                continue  # a failed judge never scores: its failure is the check above
            identity = scores["identity"].get("deception_rate")
            if identity is not None and identity > IDENTITY_DECEPTION_MAX:
                deception.append(f"{run.label}/{slug}: identity {identity:.2f}")
            for entry in entries[slug]:
                rate = scores[entry.name].get("deception_rate")
                if entry.kind == "own" and (rate is None or rate < OWN_DECEPTION_MIN):
                    deception.append(f"{run.label}/{slug}: {entry.name} {_number(rate)}")
    return [
        Check(
            f"every judge checked on ≥ {MIN_TILES} held-out tiles", not few, ", ".join(few) or "all"
        ),
        Check("judges passing the gate", not failed, "; ".join(failed[:4]) or "all"),
        Check(
            f"identity deception ≤ {IDENTITY_DECEPTION_MAX}, own-style ≥ {OWN_DECEPTION_MIN}",
            not deception,
            "; ".join(deception[:6]) or "all runs",
        ),
    ]


def print_summary(runs: list[Run], judge_seeds: list[int]) -> None:
    print("\n## Top-1 per run")
    print("| challenge | " + " | ".join(run.label for run in runs) + " |")
    print("|---" * (1 + len(runs)) + "|")
    for slug in runs[0].scores:
        print(f"| {slug} | " + " | ".join(top1(run.scores[slug]) for run in runs) + " |")
    print("\n## Judges (balanced held-out accuracy / tiles / deception threshold)")
    for judge_seed in judge_seeds:
        run = next(run for run in runs if run.judge_seed == judge_seed)
        for slug, judge in run.judges.items():
            reason = f"; {judge['reason']}" if judge["reason"] else ""
            print(
                f"- seed {judge_seed} {slug}: {judge['status']}, accuracy "
                f"{_number(judge['accuracy'])} on {judge['tiles']} tiles "
                f"(by set {judge['by_set']}), threshold {_number(judge['threshold'])}, "
                f"{judge['seconds']:.0f} s{reason}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--realworld", type=Path, default=ROOT.parent / "shared" / "realworld")
    parser.add_argument("--bank", type=int, default=4, help="style-bank challenges (0: none)")
    parser.add_argument("--network-seeds", default="0,1,2")
    parser.add_argument("--judge-seeds", default="0,1,2")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument(
        "--members", type=int, default=3, help="random VGG19s per metric network (the default)"
    )
    parser.add_argument("--json", type=Path, help="write every score and check here")
    arguments = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    network_seeds = [int(seed) for seed in arguments.network_seeds.split(",")]
    judge_seeds = [int(seed) for seed in arguments.judge_seeds.split(",")]
    realworld = arguments.realworld.resolve()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="atelier-validity-") as directory:
        var = Path(directory)
        setup_django(var)
        from scoring import engine
        from scoring.validity import ChallengeImages, style_images_of, validity_challenge_create

        photos = sorted((realworld / "content").glob("*.jpg"))
        hidden, public = public_photos(photos, var / "public-photos")
        own_styles = sorted((realworld / "styles").glob("*.jpg"))
        bank = sorted((realworld / "style-bank").glob("*.jpg"))[: arguments.bank]
        challenges, entries = [], {}
        for artwork in [*own_styles, *bank]:
            challenge = validity_challenge_create(
                slug=f"validity-{artwork.stem.replace('_', '-')}",
                images=ChallengeImages(style=[artwork], hidden=hidden, public=public),
                resolution=arguments.resolution,
                judge_seed=judge_seeds[0],
            )
            challenges.append(challenge)
            style = artwork.stem if artwork in own_styles else None
            entries[challenge.slug] = [
                *checkpoint_entries(realworld, style),
                *control_entries(style_images_of(challenge)),
            ]
        runs: list[Run] = []
        for judge_index, judge_seed in enumerate(judge_seeds):
            judged = Run(f"net{network_seeds[0]}/judge{judge_seed}", network_seeds[0], judge_seed)
            judges_train(challenges, judge_seed, judged)
            seeds = network_seeds if judge_index == 0 else network_seeds[:1]
            for network_seed in seeds:
                run = Run(f"net{network_seed}/judge{judge_seed}", network_seed, judge_seed)
                run.judges = judged.judges
                network = engine.MetricNetwork.random(network_seed, members=arguments.members)
                score_run(run, challenges, entries, network)
                runs.append(run)
        print_matrix(runs[0], entries)
        print_summary(runs, judge_seeds)
        checks = [
            *ordering_checks(runs, entries),
            *stability_checks(runs),
            *judge_checks(runs, entries),
        ]
        print("\n## Targets")
        for check in checks:
            print(f"- {'PASS' if check.passed else 'FAIL'} {check.name}: {check.detail}")
        seconds = time.perf_counter() - started
        print(f"\n{len(runs)} runs, {len(challenges)} challenges, {seconds:.0f} s")
        if arguments.json:
            arguments.json.write_text(
                json.dumps(
                    {
                        "runs": [
                            {
                                "label": r.label,
                                "scores": r.scores,
                                "judges": r.judges,
                                "details": r.details,
                            }
                            for r in runs
                        ],
                        "checks": [c.__dict__ for c in checks],
                    },
                    indent=1,
                )
            )
    return 0 if all(check.passed for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
