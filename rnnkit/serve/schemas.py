"""The JSON bodies of the API's requests (pydantic models: wrong fields or types are a 422).

Numbers that the server bounds (``length``, how many texts and how long) are checked against its
``Limits`` in the endpoints, which say the limit in their answer; ranges that are the task's own
(temperature >= 0, 0 < top_p <= 1) are the task's checks, as on the command line.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """A request body that refuses fields it does not know (a typo is a 422, not ignored)."""

    model_config = ConfigDict(extra="forbid")


class GenerateBody(Strict):
    prime: str = Field("", description="Text to continue (default: the run's default prime).")
    length: int = Field(200, ge=0, description="Tokens to generate.")
    temperature: float = Field(1.0, description="Sampling temperature; 0 is greedy.")
    top_k: int = Field(0, description="Sample among the k likeliest tokens; 0: all.")
    top_p: float = Field(1.0, description="Sample within this much probability mass; 1: all.")
    seed: int | None = Field(None, description="Seed for a reproducible sample.")
    units: list[int] = Field(
        default_factory=list, description="Hidden units whose activation each piece reports."
    )


class ActivationsBody(Strict):
    text: str = Field(description="Text to read.")
    units: list[int] = Field(description="Hidden units (layer-major) to report.")


class UnitsBody(Strict):
    signal: str = Field(description="quotes, brackets or line_position.")
    count: int = Field(10, ge=1, le=100, description="How many units to return.")
    text: str | None = Field(None, description="Text to read (default: the run's validation text).")


class TextsBody(Strict):
    texts: list[str] = Field(description="Inputs, one text each.")


class TranslateBody(TextsBody):
    beam: int | None = Field(None, ge=1, le=16, description="Beam size (default: the run's).")
    attention: bool = Field(False, description="Also return the first text's attention matrix.")


class SeriesBody(Strict):
    csv: str = Field(description="CSV table with the columns the run was trained on.")


class ForecastBody(SeriesBody):
    steps: int | None = Field(None, ge=1, description="Steps to forecast (default: horizon).")


class MusicGenerateBody(Strict):
    steps: int = Field(128, ge=1, description="Frames to generate.")
    temperature: float = Field(1.0, description="Sampling temperature; 0 takes the likeliest keys.")
    seed: int | None = Field(None, description="Seed for a reproducible piece.")
    prime_midi: str | None = Field(
        None, description="A MIDI file to continue, base64-encoded (default: start from silence)."
    )
    tempo: float = Field(120.0, description="Quarter notes a minute of the MIDI file written.")
    program: int = Field(0, description="General MIDI program (instrument) 0..127.")
