"""The starter kit: who may download it, what is in it, and that its README's commands work."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from competitions.models import Challenge, ChallengeImage
from competitions.services import participation_join
from competitions.starterkit import README_STEPS
from submissions.lifecycle import submission_cancel
from submissions.services import submission_create

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def kit_url(challenge: Challenge) -> str:
    return reverse("challenge_starter_kit", kwargs={"slug": challenge.slug})


def download(challenge: Challenge, user) -> zipfile.ZipFile:
    response = logged_in(user).get(kit_url(challenge))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert f"{challenge.slug}-starter-kit.zip" in response["Content-Disposition"]
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_only_approved_participants_and_organizers_download_the_kit(
    client: Client, challenge: Challenge, organizer, participant, outsider
) -> None:
    assert client.get(kit_url(challenge)).status_code == 302  # to the login page
    refused = logged_in(outsider).get(kit_url(challenge))
    assert refused.status_code == 403
    assert b"Join the challenge and accept its rules" in refused.content
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    download(challenge, participant)
    download(challenge, organizer)


def test_data_tab_links_the_kit(challenge: Challenge, organizer) -> None:
    page = logged_in(organizer).get(
        reverse("challenge_tab", kwargs={"slug": challenge.slug, "tab": "data"})
    )
    assert kit_url(challenge) in page.content.decode()


def test_kit_holds_data_trainer_client_and_conventions(challenge: Challenge, organizer) -> None:
    archive = download(challenge, organizer)
    top = f"{challenge.slug}-starter-kit/"
    names = {name.removeprefix(top) for name in archive.namelist()}
    assert all(name.startswith(top) for name in archive.namelist())
    for expected in (
        "README.md",
        "challenge.json",
        "train.py",
        "export_onnx.py",
        "requirements.txt",
        "atelier.py",
        "models/training/trainer.py",
        "models/zoo/transformer_net.py",
        "models/loading.py",
        "scoring/__init__.py",
        "scoring/engine/metrics.py",
    ):
        assert expected in names, expected
    # Only the pure engine of the scoring app, never its Django code.
    assert not {"scoring/models.py", "scoring/services.py", "scoring/apps.py"} & names
    assert archive.read(top + "scoring/__init__.py") == b""
    assert not any("__pycache__" in name for name in names)

    public = challenge.images.filter(split=ChallengeImage.Split.PUBLIC)
    meta = json.loads(archive.read(top + "challenge.json"))
    for kind in ("content", "style"):
        listed = meta["images"][kind]
        assert len(listed) == public.filter(kind=kind).count()
        assert {entry["sha256"] for entry in listed} == set(
            public.filter(kind=kind).values_list("sha256", flat=True)
        )
        for entry in listed:
            assert entry["file"].startswith(f"data/{kind}/")
            assert entry["file"] in names
    assert not challenge.images.filter(
        split="hidden",
        sha256__in=[
            entry["sha256"] for entry in meta["images"]["content"] + meta["images"]["style"]
        ],
    ).exists()
    assert meta["resolution"] == challenge.resolution
    assert meta["task_kind"] == "single_style"
    assert meta["io"]["generator_inputs"] == ["content"]
    assert meta["io"]["architectures"]["transformer_net"]["io_range"] == "0-255"
    assert "adain" not in meta["io"]["architectures"]
    assert meta["metrics"]["composite"]["direction"] == "lower"
    assert meta["metrics"]["judge_realism"]["direction"] == "higher"
    assert "layout features" in meta["metrics"]["content_distance"]["definition"]
    assert "covariance" in meta["metrics"]["style_distance"]["definition"]
    assert meta["metric_network"] == {
        **meta["metric_network"],
        "network": "random-texture",
        "calibrated": False,
        "seed": 0,
    }
    assert meta["training"] == {
        "architecture": "transformer_net",
        "width": 8,
        "crop": 32,
        "batch_size": 2,
        "vgg_seed": 0,
    }

    readme = archive.read(top + "README.md").decode()
    assert (
        f"python atelier.py submit --challenge {challenge.slug} --arch transformer_net "
        "run/checkpoint.safetensors" in readme
    )
    assert "--vgg-weights" in readme
    assert "torch==2.13.0" in archive.read(top + "requirements.txt").decode()


def readme_commands(readme: str, section: str) -> list[str]:
    """The lines of the first code block after the heading `## {section}`."""
    after = readme.split(f"## {section}\n", 1)[1]
    block = re.search(r"```\n(.*?)```", after, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


@pytest.mark.slow
def test_readme_commands_train_in_a_fresh_venv_and_the_platform_accepts_the_result(
    challenge: Challenge, participant, tmp_path: Path
) -> None:
    """Runs the README's "Train" commands as written, in a new virtual environment made by
    `python3 -m venv`, with one change: `--steps {README_STEPS}` becomes `--steps 2`, so the
    test trains for seconds instead of minutes. The checkpoint must then be accepted by the
    same submission service the API uses."""
    participation_join(user=participant, challenge=challenge, accept_rules=True)
    download(challenge, participant).extractall(tmp_path)
    kit = tmp_path / f"{challenge.slug}-starter-kit"
    commands = readme_commands((kit / "README.md").read_text(), "Train")
    assert commands[0] == "python3 -m venv .venv"
    assert commands[-1] == f"python train.py --steps {README_STEPS} --out run"
    commands[-1] = commands[-1].replace(f"--steps {README_STEPS}", "--steps 2")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "PYTHONPATH", "DJANGO_SETTINGS_MODULE"}
    }
    # `python3` is the interpreter running this suite, whose venv the new one must not share.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    completed = subprocess.run(
        ["bash", "-e", "-c", "\n".join(commands)],
        cwd=kit,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "2/2" in completed.stderr
    checkpoint = kit / "run" / "checkpoint.safetensors"
    assert (kit / "run" / "samples" / "step-000002.png").exists()

    submission = submission_create(
        user=participant,
        challenge=challenge,
        checkpoint_path=checkpoint,
        checkpoint_name=checkpoint.name,
        architecture="transformer_net",
    )
    assert submission.config == {"width": 8}
    assert submission.io_range == "0-255"

    # The README's ONNX export, in the same environment; the platform accepts its graph.
    export, submit = readme_commands((kit / "README.md").read_text(), "Export to ONNX (optional)")
    assert submit.endswith("--arch onnx --io-range 0-255 run/generator.onnx")
    exported = subprocess.run(
        ["bash", "-e", "-c", f". .venv/bin/activate\n{export}"],
        cwd=kit,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert exported.returncode == 0, exported.stdout[-3000:] + exported.stderr[-3000:]
    graph = kit / "run" / "generator.onnx"
    submission_cancel(submission=submission, by=participant)  # the phase runs one at a time
    onnx_submission = submission_create(
        user=participant,
        challenge=challenge,
        checkpoint_path=graph,
        checkpoint_name=graph.name,
        architecture="onnx",
        io_range="0-255",
    )
    assert (onnx_submission.checkpoint_format, onnx_submission.config["size"]) == ("onnx", None)
