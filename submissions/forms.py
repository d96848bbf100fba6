"""The submit form: what the participant states about their checkpoint."""

from __future__ import annotations

from typing import Any

from django import forms

from config.parsing import JSONFormField
from models.architectures import architectures
from models.io_range import IORange

IO_RANGE_CHOICES = [
    ("", "The architecture's own range"),
    (IORange.UNIT.value, "0..1"),
    (IORange.BYTE.value, "0..255"),
    (IORange.SIGNED.value, "-1..1"),
]
CONFIG_NOT_JSON = 'Write the configuration as a JSON object, e.g. {"width": 16}, or leave it empty.'


class SubmissionForm(forms.Form):
    architecture = forms.ChoiceField(
        choices=[],
        help_text="The network your checkpoint holds (each is explained above the form); its "
        "widths and depths are read off the weights.",
    )
    phase = forms.ChoiceField(choices=[], required=False)
    io_range = forms.ChoiceField(
        choices=IO_RANGE_CHOICES,
        required=False,
        label="Pixel range",
        help_text="What your generator takes and returns; the platform converts from and to it. "
        "The architecture's own range is listed above the form (0..255 for onnx).",
    )
    config = JSONFormField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": '{"width": 16}'}),
        help_text="Optional: the settings you trained with; any that disagree with the weights "
        "are reported.",
    )
    description = forms.CharField(required=False, max_length=500)
    checkpoint = forms.FileField(
        help_text="A .safetensors file (preferred), a PyTorch state dict (.pt, .pth, .model, "
        ".ckpt, .bin), a .pt2 exported program or an .onnx model; the format is read from the "
        "file's content, whatever its name."
    )

    def __init__(self, *args: Any, phases: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["architecture"].choices = [
            (entry.name, entry.name) for entry in architectures()
        ]
        self.fields["phase"].choices = [(name, name) for name in phases]

    def clean_config(self) -> dict[str, Any] | None:
        # Malformed, too large or too deep is refused by the field; any other JSON here.
        value = self.cleaned_data["config"]
        if value is not None and not isinstance(value, dict):
            raise forms.ValidationError(CONFIG_NOT_JSON, code="config_not_json")
        return value
