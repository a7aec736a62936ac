"""One JSON endpoint per task under ``/v1/{run}/``; each calls the task's own Python API, the
functions its command line calls (``rnnkit generate | predict | translate | caption | forecast |
detect | transcribe``). Runs are loaded once at start-up; forecast and transcribe call the
functions of their commands, which take a run directory and a file, so those open the run again
per request (the request's CSV or audio goes through a temporary file, as do caption's image,
music's MIDI files and video's clips; video's ``predict`` opens the run per request too).

``/generate`` serves lm and music runs, each with its own body (``GenerateBody``,
``MusicGenerateBody``), read once the run's task is known.

Generation, classification and tagging go through a ``DynamicBatcher`` per run (when batching
is on): concurrent requests run as one batch. A task's ``UserError`` becomes a 422 with its
sentence (``rnnkit/serve/app.py``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError

from rnnkit.errors import UserError
from rnnkit.serve.batching import DynamicBatcher
from rnnkit.serve.limits import Limits, check, check_texts
from rnnkit.serve.registry import ServedRun
from rnnkit.serve.schemas import (
    ActivationsBody,
    ForecastBody,
    GenerateBody,
    MusicGenerateBody,
    SeriesBody,
    TextsBody,
    TranslateBody,
    UnitsBody,
)
from rnnkit.tasks import lm_sampling, lm_units
from rnnkit.tasks.lm_sampling import SampleRequest

#: the most units one request may ask activations of
MAX_UNITS = 64

#: the data files ``/classify-file`` takes; the single-item kinds are read as a folder of one
CLASSIFY_FILE_KINDS = ("csv", "tsv", "txt", "npz", "idx", "gz", "png", "wav", "flac", "ogg")
SINGLE_ITEM_KINDS = ("png", "wav", "flac", "ogg")


@dataclass
class ServerState:
    """What the endpoints share: the runs, the limits, and each run's batcher."""

    runs: dict[str, ServedRun]
    limits: Limits
    batching: bool = True
    max_batch: int = 16
    window_s: float = 0.005
    batchers: dict[str, DynamicBatcher] = field(default_factory=dict)
    unit_cache: dict[tuple[str, str, int], list[dict[str, Any]]] = field(default_factory=dict)

    def run(self, name: str, endpoint: str) -> ServedRun:
        """The run named ``name`` if it serves ``endpoint``; else 404 saying what exists."""
        served = self.runs.get(name)
        if served is None:
            raise HTTPException(404, f"no run is named {name!r}; runs: {', '.join(self.runs)}.")
        if endpoint not in served.endpoints:
            offered = ", ".join(f"/{e}" for e in served.endpoints) or "no endpoint"
            task = served.task.name
            raise HTTPException(
                404, f"{name} is a run of task {task}; it serves {offered}, not /{endpoint}."
            )
        return served

    async def call(self, served: ServedRun, run_batch: Callable[[Sequence], list], item: Any):
        """``run_batch([item])[0]``, batched with concurrent calls on the same run when on."""
        if not self.batching:
            return (await asyncio.to_thread(run_batch, [item]))[0]
        batcher = self.batchers.get(served.name)
        if batcher is None:
            batcher = DynamicBatcher(run_batch, max_batch=self.max_batch, window_s=self.window_s)
            self.batchers[served.name] = batcher
        return await batcher.submit(item)


def jsonable(value: Any) -> Any:
    """NumPy/pandas values as plain numbers, lists and strings; NaN and infinities as None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def split_like(flat: Sequence[Any], groups: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """``flat`` cut into consecutive lists as long as each of ``groups``."""
    out, start = [], 0
    for group in groups:
        out.append(list(flat[start : start + len(group)]))
        start += len(group)
    return out


async def read_body(request: Request, model: type[BaseModel]) -> Any:
    """The request's JSON body as ``model``; FastAPI's 422 (errors located under ``body``) when
    it is not one."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as error:
        errors = error.errors(include_url=False, include_context=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


async def clips_body(request: Request, suffix: str) -> bytes:
    """The clips file sent as the body of ``request`` (an ``.npz`` or ``.npy``, as ``suffix``
    says); 422 when the body is empty or ``suffix`` is another kind."""
    data = await request.body()
    if not data:
        raise HTTPException(422, "the request body is empty; send the clips file as the body.")
    if suffix not in ("npz", "npy"):
        raise HTTPException(422, f"suffix {suffix!r} is not a clips file kind: npz or npy.")
    return data


def json_bodies(*models: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI of a route whose JSON body is one of ``models`` (``openapi_extra``)."""
    schemas = [model.model_json_schema() for model in models]
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": schemas}}},
        }
    }


def binary_body(media_type: str) -> dict[str, Any]:
    """OpenAPI of a route whose body is a file (``openapi_extra``)."""
    schema = {"type": "string", "format": "binary"}
    return {"requestBody": {"content": {media_type: {"schema": schema}}, "required": True}}


def build_router(state: ServerState) -> APIRouter:
    """The ``/v1`` API over ``state``'s runs."""
    router = APIRouter(prefix="/v1")
    limits = state.limits

    # ------------------------------------------------------------------ language models

    def sample_request(served: ServedRun, body: GenerateBody) -> SampleRequest:
        check("length", body.length, limits.max_length, "tokens")
        check("units", len(body.units), MAX_UNITS, "units")
        check("prime", len(body.prime), limits.max_text_chars, "characters")
        request = SampleRequest(**body.model_dump()).check()
        served.loaded.check_units(request.units)
        return request

    def pieces_json(pieces: Sequence[lm_sampling.Piece]) -> list[dict[str, Any]]:
        return [{"text": p.text, "activations": p.activations} for p in pieces]

    @router.post(
        "/{run}/generate",
        tags=["lm", "music"],
        openapi_extra=json_bodies(GenerateBody, MusicGenerateBody),
    )
    async def generate(run: str, raw: Request) -> dict[str, Any]:
        """An lm run: sample a text continuing ``prime`` (as `rnnkit generate`), with the
        activation of the requested hidden units after each piece; batched with concurrent
        requests. A music run: sample ``steps`` frames (see ``generate_music``)."""
        served = state.run(run, "generate")
        if served.task.name == "music":
            return await generate_music(served, await read_body(raw, MusicGenerateBody))
        body = await read_body(raw, GenerateBody)
        request = sample_request(served, body)
        loaded = served.loaded
        sample = await state.call(served, lambda rs: lm_sampling.sample_many(loaded, rs), request)
        return {"text": sample.text, "pieces": pieces_json(sample.pieces)}

    @router.post("/{run}/generate/stream", tags=["lm"])
    def generate_stream(run: str, body: GenerateBody) -> StreamingResponse:
        """Server-Sent Events: one ``data: {"text", "activations"}`` event per sampled token as
        it is sampled, then ``event: done``."""
        served = state.run(run, "generate/stream")
        request = sample_request(served, body)

        def events() -> Iterator[str]:
            for (piece,) in lm_sampling.sample_steps(served.loaded, [request]):
                payload = {"text": piece.text, "activations": piece.activations}
                yield f"data: {json.dumps(payload)}\n\n"
            yield "event: done\ndata: {}\n\n"

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @router.post("/{run}/activations", tags=["lm"])
    def activations(run: str, body: ActivationsBody) -> dict[str, Any]:
        """Each token of ``text`` and the activations of ``units`` after reading it."""
        served = state.run(run, "activations")
        check("text", len(body.text), limits.max_text_chars, "characters")
        check("units", len(body.units), MAX_UNITS, "units")
        pieces, values = lm_units.activations(served.loaded, body.text, body.units)
        return {"pieces": pieces, "activations": values.tolist()}

    @router.post("/{run}/units", tags=["lm"])
    def units(run: str, body: UnitsBody) -> dict[str, Any]:
        """The hidden units whose activation correlates most with a signal (quotes, brackets,
        line_position) over the run's validation text, or over ``text``."""
        served = state.run(run, "units")
        key = (run, body.signal, body.count)
        if body.text is None and key in state.unit_cache:
            return {"units": state.unit_cache[key], "source": "validation text"}
        text = body.text if body.text is not None else _validation_text(served)
        found = lm_units.top_units(served.loaded, text, body.signal, body.count)
        result = [vars(u) for u in found]
        if body.text is None:
            state.unit_cache[key] = result
        return {"units": result, "source": "request" if body.text else "validation text"}

    # ------------------------------------------------------------------ classify and tag

    @router.post("/{run}/classify", tags=["classify"])
    async def classify(run: str, body: TextsBody) -> dict[str, Any]:
        """The label and class probabilities of each text (as `rnnkit predict`); batched."""
        from rnnkit.tasks import classify as task

        served = state.run(run, "classify")
        check_texts("texts", body.texts, limits)
        loaded = served.loaded
        if loaded.numeric or loaded.audio or loaded.images:
            kind = "audio" if loaded.audio else "images" if loaded.images else "numeric sequences"
            raise HTTPException(
                422,
                f"{run} classifies {kind}, not texts; send a data file to "
                f"/v1/{run}/classify-file instead.",
            )

        def run_batch(groups: Sequence[list[str]]) -> list[list[Any]]:
            flat = task.predict_texts(loaded, [t for group in groups for t in group])
            return split_like(flat, groups)

        predictions = await state.call(served, run_batch, body.texts)
        return {
            "predictions": [
                {"label": p.label, "probabilities": p.probabilities} for p in predictions
            ]
        }

    @router.post(
        "/{run}/classify-file",
        tags=["classify"],
        openapi_extra=binary_body("application/octet-stream"),
    )
    async def classify_file(
        run: str,
        request: Request,
        suffix: str = Query(..., description=f"The file's kind: {', '.join(CLASSIFY_FILE_KINDS)}."),
    ) -> dict[str, Any]:
        """The label and class probabilities of every input of a data file sent as the body,
        of the kind the run was trained on, as ``rnnkit predict --data`` reads it: a CSV of
        texts or numeric sequences, an ``.npz`` or IDX file (``gz``: gzipped) of images, or one
        PNG or one audio file. Each prediction carries ``id``: the input's row, sequence or
        file name."""
        from rnnkit.tasks import classify as task

        served = state.run(run, "classify-file")
        data = await request.body()
        if not data:
            raise HTTPException(422, "the request body is empty; send the data file as the body.")
        kind = suffix.lower()
        if kind not in CLASSIFY_FILE_KINDS:
            kinds = ", ".join(CLASSIFY_FILE_KINDS)
            raise HTTPException(422, f"suffix {suffix!r} is not a data file kind: {kinds}.")

        def predict() -> dict[str, Any]:
            single = kind in SINGLE_ITEM_KINDS  # read as a folder holding the one item
            with uploaded(data, f"inputs/upload.{kind}" if single else f"upload.{kind}") as path:
                id_column, rows = task.predict_data(served.loaded, path.parent if single else path)
            return {
                "id_column": id_column,
                "predictions": [
                    {
                        "id": Path(name).name if single else name,  # not the temporary path
                        "label": p.label,
                        "probabilities": p.probabilities,
                    }
                    for name, p in rows
                ],
            }

        return await asyncio.to_thread(predict)

    @router.post("/{run}/tag", tags=["tag"])
    async def tag(run: str, body: TextsBody) -> dict[str, Any]:
        """``[[token, tag], ...]`` for each text, split at whitespace; batched."""
        from rnnkit.tasks import tag as task

        served = state.run(run, "tag")
        check_texts("texts", body.texts, limits)

        def run_batch(groups: Sequence[list[str]]) -> list[list[Any]]:
            flat = [t for group in groups for t in group]
            tagged = task.predict_texts(served.path, flat, loaded=served.loaded)
            return split_like(tagged, groups)

        tagged = await state.call(served, run_batch, body.texts)
        return {"tags": [[list(pair) for pair in sentence] for sentence in tagged]}

    # ------------------------------------------------------------------ translate

    @router.post("/{run}/translate", tags=["translate"])
    def translate(run: str, body: TranslateBody) -> dict[str, Any]:
        """Translations of ``texts`` (as `rnnkit translate`); with ``attention``, the first
        text's attention matrix (rows: output tokens, columns: source tokens)."""
        from rnnkit.tasks import translate as task

        served = state.run(run, "translate")
        check_texts("texts", body.texts, limits)
        warnings: list[str] = []
        decoding = {"beam": body.beam}
        translations = task.translate(
            served.path, body.texts, run=served.loaded, warn=warnings.append, **decoding
        )
        answer: dict[str, Any] = {"translations": translations, "warnings": warnings}
        if body.attention:
            attention = task.attention_of(
                served.path, body.texts[0], run=served.loaded, warn=warnings.append, **decoding
            )
            answer["attention"] = {
                "translation": attention.translation,
                "weights": jsonable(attention.weights),
                "source_tokens": attention.source_tokens,
                "target_tokens": attention.target_tokens,
            }
        return answer

    # ------------------------------------------------------------------ music

    async def generate_music(served: ServedRun, body: MusicGenerateBody) -> dict[str, Any]:
        """A piece of ``steps`` frames (after ``prime_midi``) as `rnnkit generate` on a music run
        writes it: ``pitches``, the MIDI pitches sounding in each frame (prime included), and
        ``midi``, the MIDI file in base64."""
        from rnnkit.tasks import music

        check("steps", body.steps, limits.max_length, "frames")
        prime = _base64(body.prime_midi, "prime_midi") if body.prime_midi is not None else None

        def generate_files() -> tuple[music.GeneratedPiece, bytes]:
            with tempfile.TemporaryDirectory() as folder:
                prime_path = None
                if prime is not None:
                    prime_path = Path(folder) / "prime.mid"
                    prime_path.write_bytes(prime)
                piece = music.generate(
                    served.path, Path(folder) / "piece.mid", body.steps, body.temperature,
                    body.seed, prime_path, body.tempo, body.program, model=served.loaded,
                )  # fmt: skip
                return piece, piece.midi.read_bytes()

        piece, midi = await asyncio.to_thread(generate_files)
        return {
            "frames": len(piece.roll),
            "prime_frames": piece.prime_frames,
            "pitches": piece.pitches(),
            "midi": base64.b64encode(midi).decode("ascii"),
        }

    # ------------------------------------------------------------------ caption

    @router.post("/{run}/caption", tags=["caption"], openapi_extra=binary_body("image/*"))
    async def caption(
        run: str,
        request: Request,
        beam: int | None = Query(None, ge=1, le=16, description="Beam size (default: the run's)."),
        attention: bool = Query(False, description="Also return the attention of each word."),
        suffix: str = Query("png", description="The image file's kind (png, jpg...)."),
    ) -> dict[str, Any]:
        """The caption of an image sent as the request body (as `rnnkit caption`; for a
        keywords run, the body is the keywords as UTF-8 text). With ``attention``: ``words``
        (the end marker last) and ``weights``, for each word its attention over the image's
        grid of positions (words x rows x columns, each word's summing to 1), or over the
        ``keywords`` (words x keywords)."""
        from rnnkit.tasks import caption as task

        served = state.run(run, "caption")
        loaded = served.loaded
        data = await request.body()
        if not data:
            what = "the keywords" if loaded.keywords is not None else "the image file"
            raise HTTPException(422, f"the request body is empty; send {what} as the body.")
        if not suffix.isalnum():
            raise HTTPException(422, f"suffix {suffix!r} is not a file kind such as png or jpg.")
        decoding = {"beam": beam}

        def answer(item: str | Path) -> dict[str, Any]:
            if not attention:
                return {"caption": task.caption(served.path, [item], run=loaded, **decoding)[0]}
            found = task.attention_of(served.path, item, run=loaded, **decoding)
            return {
                "caption": found.caption,
                "attention": {
                    "words": found.words,
                    "weights": jsonable(found.weights),
                    "keywords": found.keywords,
                },
            }

        def caption_body() -> dict[str, Any]:
            if loaded.keywords is not None:
                try:
                    keywords = data.decode("utf-8")
                except UnicodeDecodeError:
                    raise UserError("the keywords are not UTF-8 text.") from None
                check("the keywords", len(keywords), limits.max_text_chars, "characters")
                return answer(keywords)
            with uploaded(data, f"image.{suffix}") as path:
                return answer(path)

        return await asyncio.to_thread(caption_body)

    # ------------------------------------------------------------------ video

    @router.post("/{run}/predict", tags=["video"], openapi_extra=binary_body("application/zip"))
    async def predict_video(
        run: str,
        request: Request,
        suffix: str = Query("npz", description="The clips file's kind: npz or npy."),
    ) -> dict[str, Any]:
        """Clips sent as the request body, an ``.npz`` with ``frames (N, T, H, W[, C])`` uint8
        (or an ``.npy`` of them), as `rnnkit predict` takes them: a prediction run answers
        ``frames``, the next frames of each clip ``(N, M, H, W[, C])`` uint8; a classify run
        ``labels``, each clip's ``clip``, ``label`` and ``probability``."""
        from rnnkit.tasks import video

        served = state.run(run, "predict")
        data = await clips_body(request, suffix)
        mode = served.run.options(video.VideoOptions).mode

        def predict_file() -> dict[str, Any]:
            with uploaded(data, f"clips.{suffix}") as clips:
                if mode == "classify":
                    rows = video.label_clips(served.path, clips)
                    return {"labels": [
                        {"clip": name, "label": label, "probability": probability}
                        for name, label, probability in rows
                    ]}  # fmt: skip
                output = clips.parent / "future.npz"
                video.predict_clips(served.path, clips, output)
                with np.load(output, allow_pickle=False) as written:
                    return {"frames": written["frames"].tolist()}

        return await asyncio.to_thread(predict_file)

    @router.get("/{run}/clip", tags=["video"])
    async def clip_of_the_run(
        run: str, index: int = Query(0, ge=0, description="Which clip of the file, from 0.")
    ) -> dict[str, Any]:
        """One clip of the run's own validation file (else its training data), as the run sees
        it; the answer is that of ``POST /v1/{run}/clip``."""
        from rnnkit.tasks import video

        served = state.run(run, "clip")
        return await asyncio.to_thread(
            lambda: clip_answer(video.view_clip(served.path, video.clip_source(served.path), index))
        )

    @router.post("/{run}/clip", tags=["video"], openapi_extra=binary_body("application/zip"))
    async def clip_of_a_file(
        run: str,
        request: Request,
        index: int = Query(0, ge=0, description="Which clip of the file, from 0."),
        suffix: str = Query("npz", description="The clips file's kind: npz or npy."),
    ) -> dict[str, Any]:
        """One clip of a clips file sent as the body (as ``/predict`` takes it), for a person to
        look at: ``clip`` (its name), ``clips`` (how many the file holds) and ``context``, its
        frames ``(T, H, W, C)`` uint8; a prediction run adds ``predicted`` (the next frames)
        and ``truth`` (the clip's own next frames, as many as it has); a classify run
        ``label`` and ``probabilities`` (class -> probability)."""
        from rnnkit.tasks import video

        served = state.run(run, "clip")
        data = await clips_body(request, suffix)

        def view() -> dict[str, Any]:
            with uploaded(data, f"clips.{suffix}") as clips:
                return clip_answer(video.view_clip(served.path, clips, index))

        return await asyncio.to_thread(view)

    # ------------------------------------------------------------------ series

    @router.post("/{run}/forecast", tags=["forecast"])
    def forecast(run: str, body: ForecastBody) -> dict[str, Any]:
        """Forecast the steps after a history given as CSV (as `rnnkit forecast`): point
        forecasts and, for a Gaussian run, ``<target>_q<level>`` quantile columns."""
        from rnnkit.tasks import forecast as task
        from rnnkit.tasks.series_common import stored_columns

        served = state.run(run, "forecast")
        if body.steps is not None:
            check("steps", body.steps, limits.max_steps, "steps")
        columns = stored_columns(served.run)
        with uploaded(body.csv, "series.csv", "the CSV of the request") as path:
            frame = task.forecast(served.path, path, steps=body.steps)
            history = _history(path, columns.time, columns.targets)
        return {
            "targets": columns.targets,
            "time_column": columns.time,
            "history": history,
            "forecast": {name: jsonable(frame[name].astype(object)) for name in frame.columns},
        }

    @router.post("/{run}/detect", tags=["detect"])
    def detect(run: str, body: SeriesBody) -> dict[str, Any]:
        """Anomaly score and flag of every row of a series given as CSV (as `rnnkit detect`),
        the threshold, and metrics when the run has a label column."""
        from rnnkit.tasks import detect as task

        served = state.run(run, "detect")
        loaded = served.loaded
        with uploaded(body.csv, "series.csv", "the CSV of the request") as path:
            frame, metrics = task.score_file(loaded, path)
            history = _history(path, loaded.data["time_column"], list(loaded.data["targets"]))
        return {
            "targets": list(loaded.data["targets"]),
            "history": history,
            "score": jsonable(frame["score"]),
            "flag": jsonable(frame["flag"]),
            "threshold": loaded.threshold,
            "metrics": jsonable(metrics),
        }

    # ------------------------------------------------------------------ speech

    @router.post("/{run}/transcribe", tags=["speech"], openapi_extra=binary_body("audio/wav"))
    async def transcribe(run: str, request: Request, suffix: str = "wav") -> dict[str, Any]:
        """The transcript of an audio file sent as the request body (as `rnnkit transcribe`);
        ``suffix``: the file's kind (wav, flac, ogg...)."""
        from rnnkit.tasks import speech

        served = state.run(run, "transcribe")
        audio = await request.body()
        if not audio:
            raise HTTPException(422, "the request body is empty; send the audio file as the body.")
        if not suffix.isalnum():
            raise HTTPException(422, f"suffix {suffix!r} is not a file kind such as wav or flac.")

        def transcribe_bytes() -> str:
            with uploaded(audio, f"audio.{suffix}") as path:
                return speech.transcribe_files(served.path, [path])[0]

        return {"text": await asyncio.to_thread(transcribe_bytes)}

    return router


def _base64(text: str, field: str) -> bytes:
    """The bytes of a base64 field; 422 naming the field when it is not base64."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(422, f"{field} is not base64; encode the file's bytes.") from None


def _validation_text(served: ServedRun) -> str:
    from rnnkit.tasks import lm

    return lm.validation_text(served.run)


@contextmanager
def uploaded(data: bytes | str, name: str, called: str = "the uploaded file") -> Iterator[Path]:
    """``data`` (bytes, or text written as UTF-8) as a temporary file called ``name`` (the tasks
    read files), removed afterwards. A task's ``UserError`` about it says ``called`` instead of
    the temporary path, which means nothing to the client."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
        try:
            yield path
        except UserError as error:
            sentence = str(error).replace(str(path), called)
            raise UserError(sentence.replace(folder, "the upload")) from None


def _history(path: Path, time_column: str | None, targets: list[str]) -> dict[str, Any]:
    """The time column (or row numbers) and the target columns of a CSV, for drawing."""
    try:
        frame = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as error:
        raise UserError(f"the CSV could not be read ({error}).") from None
    index = frame[time_column] if time_column in frame else pd.Series(range(1, len(frame) + 1))
    return {
        "index": jsonable(index.astype(object)),
        **{t: jsonable(frame[t].astype(float)) for t in targets if t in frame},
    }


def clip_answer(view: Any) -> dict[str, Any]:
    """A ``rnnkit.tasks.video.ClipView`` as JSON: frames as nested lists of uint8."""
    answer: dict[str, Any] = {"clip": view.clip, "clips": view.clips}
    for key in ("context", "predicted", "truth"):
        frames = getattr(view, key)
        if frames is not None:
            answer[key] = frames.tolist()
    if view.label is not None:
        answer["label"] = view.label
        answer["probabilities"] = view.probabilities
    return answer
