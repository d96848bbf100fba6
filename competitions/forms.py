"""HTML forms of the challenge pages and the organizer admin."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from competitions import errors
from competitions.imaging import ImageRejected, NormalisedImage, normalise_image
from competitions.models import ChallengeImage

BUNDLE_TOO_LARGE = "The bundle is {size}; the limit is {limit}."


class JoinForm(forms.Form):
    accept_rules = forms.BooleanField(
        required=True,
        label="I have read and accept the rules of this challenge.",
        error_messages={"required": "You need to accept the rules to join."},
    )


class BundleImportForm(forms.Form):
    bundle = forms.FileField(
        help_text="A zip holding challenge.toml and the content/ and style/ image folders.",
    )

    def clean_bundle(self):  # type: ignore[no-untyped-def]
        bundle = self.cleaned_data["bundle"]
        limit = settings.ATELIER_MAX_UPLOAD_BYTES
        if bundle.size > limit:
            raise forms.ValidationError(
                BUNDLE_TOO_LARGE.format(
                    size=filesizeformat(bundle.size), limit=filesizeformat(limit)
                ),
                code="bundle_too_large",
            )
        return bundle


class ChallengeImageAddForm(forms.ModelForm):
    """Add one image in the admin; the upload is validated and normalised by the service."""

    upload = forms.FileField(label="Image file")
    normalised: NormalisedImage | None = None

    class Meta:
        model = ChallengeImage
        fields = ["challenge", "kind", "split"]

    def clean(self) -> dict:
        cleaned = super().clean()
        challenge, upload = cleaned.get("challenge"), cleaned.get("upload")
        if challenge is None or upload is None:
            return cleaned
        try:
            self.normalised = normalise_image(
                upload,
                name=upload.name,
                resolution=challenge.resolution,
                max_pixels=settings.ATELIER_MAX_IMAGE_PIXELS,
            )
        except ImageRejected as error:
            raise forms.ValidationError(error.message, code=error.code) from error
        duplicate = ChallengeImage.objects.filter(
            challenge=challenge, kind=cleaned.get("kind"), sha256=self.normalised.sha256
        )
        if duplicate.exists():
            code, message = errors.DUPLICATE_IMAGE
            raise forms.ValidationError(
                message.format(name=upload.name, kind=cleaned.get("kind")), code=code
            )
        return cleaned
