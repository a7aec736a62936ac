"""Speech recognition with CTC: audio files and transcripts -> a run that transcribes audio.

The Python API behind ``rnnkit train speech``, ``rnnkit transcribe`` and ``rnnkit evaluate`` /
``info`` on a speech run::

    from rnnkit.tasks import speech

    run = speech.train(speech.SpeechOptions(data="train.csv", val="val.csv", out="runs/digits"))
    speech.transcribe_files(run, ["a.wav", "b.wav"])           # ["3 9 1", "7 7 2 0"]
    speech.evaluate(run, "test.csv")                            # cer, wer, loss, files, ...
    for piece in speech.stream_transcription(run, "long.wav"):  # text as the audio arrives
        print(piece, end="", flush=True)

Data: a ``path,text`` table (paths relative to it) or a folder of audio files whose transcript
is in the name (``label_from_name``), read by ``rnnkit.data.transcripts``. Every file is read at
the run's sample rate (resampled as needed), turned into log-mel or MFCC frames and normalised
(``rnnkit.data.audio_inputs``). Transcripts are characters: the alphabet is a character tokenizer
fitted on the training transcripts, whose padding id 0 serves as the CTC blank (its other
special ids are never targets and never decoded).

The model (``rnnkit.models.speech.CTCRecognizer``) stacks frames, reads them with a deep RNN and
scores characters and the blank at every step; the loss is ``F.ctc_loss``. Training masks time
and frequency bands (SpecAugment), drawn from the data-order generator so a resumed or torchrun
run sees the same masks. Decoding is greedy (best path) or a CTC prefix beam search with an
optional character n-gram model of the training transcripts (``lm_order``) or a word list.

A run directory holds ``config.json``, ``tokenizer.json`` (the alphabet), ``features.json``
(feature settings and normalisation statistics), ``lm.json`` (with ``lm_order``),
``model.safetensors``, ``metrics.csv``, ``loss.png`` (loss and validation CER), ``alignment.png``
(a validation file's log-mel spectrogram with the frames where each character is emitted) and
``checkpoint/``.
"""

from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.data.audio import audio_info, read_audio
from rnnkit.data.audio_features import StreamingFeatures, spec_augment
from rnnkit.data.audio_inputs import AudioFeaturizer, most_common_rate
from rnnkit.data.buckets import bucket_batches, pad_sequences
from rnnkit.data.readers import read_text
from rnnkit.data.tokenizers import SPECIAL_TOKENS, CharTokenizer, Tokenizer, load_tokenizer
from rnnkit.data.transcripts import TranscribedAudio, read_transcribed_audio
from rnnkit.data.writers import write_output
from rnnkit.decoding.ctc import (
    CharNgramLM,
    WordListLM,
    ctc_beam_search_batch,
    ctc_greedy,
    ctc_greedy_alignment,
)
from rnnkit.errors import UserError
from rnnkit.metrics.speech import error_rates, normalize_text, utterance_errors
from rnnkit.models.speech import BLANK, CTCRecognizer
from rnnkit.tasks import lifecycle
from rnnkit.tasks.audio_options import AUDIO, AudioOptions
from rnnkit.tasks.lifecycle import RNN_DESCRIPTION, Prepared, Run, Task
from rnnkit.tasks.options import TaskOptions, model_option, option
from rnnkit.tasks.search_space import CELLS, TRAINING_SPACE, FloatRange, IntRange, SearchSpace
from rnnkit.training import StepResult, preferred_precision

TASK = "speech"
TOKENIZER_FILE = "tokenizer.json"
FEATURES_FILE = "features.json"
LM_FILE = "lm.json"
ALIGNMENT_PLOT = "alignment.png"
EVAL_BATCH = 32
#: the tokenizer's special ids besides the blank (its padding id): never targets, never decoded
UNUSED_LABELS = (Tokenizer.unk_id, Tokenizer.bos_id, Tokenizer.eos_id)
assert Tokenizer.pad_id == BLANK  # the padding id serves as the CTC blank
#: the ``--help`` panel of the decoding options
DECODING = "Decoding"


@dataclass
class SpeechOptions(AudioOptions, TaskOptions):
    """Everything ``rnnkit train speech`` takes: data, features, model, decoding, training."""

    path_fields: ClassVar[tuple[str, ...]] = ("data", "val", "out")
    missing_data_message: ClassVar[str] = (
        "no training data was given; pass --data with a path,text table or a folder of audio."
    )

    data: Path | None = option(
        None, help="Training audio: a .csv/.tsv/.jsonl table of path,text, or a folder."
    )
    val: Path | None = option(None, help="Validation audio, as --data (default: a share of it).")
    val_fraction: float = option(0.1, help="Share of files held out without --val.", fixed=True)
    text_column: str = option("text", help="Column holding the transcripts.", fixed=True)
    lowercase: bool = option(True, help="Lowercase the transcripts.", fixed=True)
    # SpecAugment (the feature options come from AudioOptions)
    spec_augment: bool = option(True, help="SpecAugment masks in training.", panel=AUDIO)
    freq_masks: int = option(2, help="Frequency masks per file.", panel=AUDIO)
    freq_width: int = option(6, help="Widest frequency mask, in features.", panel=AUDIO)
    time_masks: int = option(2, help="Time masks per file.", panel=AUDIO)
    time_width: int = option(10, help="Widest time mask, in frames.", panel=AUDIO)
    # decoding
    lm_order: int = option(
        0,
        help="Order of a character n-gram model of the training transcripts (0: none).",
        panel=DECODING,
        fixed=True,
    )
    beam: int = option(1, help="Beam width of evaluation (1: greedy).", panel=DECODING)
    lm_weight: float = option(
        0.5, help="Weight of the n-gram model in the beam search.", panel=DECODING
    )
    # model
    subsample: int = model_option(3, help="Frames stacked into one RNN step.")
    hidden: int = model_option(192, help="Hidden units per direction.")
    layers: int = model_option(3, help="Stacked recurrent layers.")
    bidirectional: bool = model_option(True, help="Read both directions (no streaming).")
    dropout: float = model_option(0.2, help="Dropout on inputs, between layers, before the head.")
    batch_size: int = model_option(16, help="Files per batch (bucketed by length).")
    # TrainOptions defaults that suit CTC training
    lr: float = 2e-3
    epochs: int | None = 30
    schedule: str = "cosine"  # decays over whichever budget ends training
    precision: str = field(default_factory=preferred_precision)

    #: what ``rnnkit tune speech`` searches (rnnkit.tasks.search_space)
    search_space: ClassVar[SearchSpace] = {
        **TRAINING_SPACE,
        "cell": CELLS,
        "hidden": IntRange(64, 384, log=True),
        "layers": IntRange(2, 5),
        "subsample": IntRange(2, 4),
        "dropout": FloatRange(0.0, 0.4),
    }

    def validate(self) -> SpeechOptions:
        """Check every value; raise ``UserError`` naming the first bad option. Returns ``self``."""
        super().validate()
        self.validate_audio()
        self.require_whole_numbers("subsample", "hidden", "layers", "beam", "batch_size")
        self.require_whole_numbers(
            "freq_masks", "freq_width", "time_masks", "time_width", "lm_order", at_least=0
        )
        self.require_rates("dropout")
        self.require_fractions("val_fraction")
        self.require_non_negative("lm_weight")
        return self


# ------------------------------------------------------------------------------------ data


def normalise_text(text: str, lowercase: bool) -> str:
    """A transcript as the error rates read it (runs of whitespace made single spaces), and
    lowercased if asked."""
    text = normalize_text(text)
    return text.lower() if lowercase else text


@dataclass
class Utterance:
    """One file as the model sees it: normalised ``frames (T, F)``, its transcript and its
    label ids ``(L,)`` (empty when the file has no transcript)."""

    path: Path
    frames: Tensor
    text: str
    labels: Tensor
    seconds: float


def ctc_frames_needed(labels: Sequence[int]) -> int:
    """The fewest output steps CTC needs for ``labels``: one per label, plus a blank between
    each pair of equal neighbours."""
    return len(labels) + sum(a == b for a, b in zip(labels, labels[1:], strict=False))


def read_utterances(
    items: Sequence[TranscribedAudio],
    featurizer: AudioFeaturizer,
    tokenizer: Tokenizer,
    lowercase: bool,
) -> list[Utterance]:
    """Each file's frames and labels (``featurizer`` fitted on them first if it is not)."""
    frames = featurizer.read_all([item.path for item in items])
    utterances = []
    for item, item_frames in zip(items, frames, strict=True):
        text = normalise_text(item.text or "", lowercase)
        labels = torch.tensor(tokenizer.encode(text), dtype=torch.long)
        seconds = audio_info(item.path)[1]
        utterances.append(Utterance(item.path, item_frames, text, labels, seconds))
    return utterances


def unknown_characters(texts: Sequence[str], tokenizer: Tokenizer) -> Counter[str]:
    """How often each character outside the tokenizer's alphabet occurs in ``texts``."""
    return Counter(
        ch
        for text in texts
        for ch, i in zip(text, tokenizer.encode(text), strict=True)
        if i == tokenizer.unk_id
    )


def make_batch(utterances: Sequence[Utterance]) -> dict[str, Tensor]:
    """Padded ``features (B, T, F)``, ``lengths (B,)``, ``labels (B, L)`` (padded with the
    blank) and ``label_lengths (B,)``."""
    features, lengths = pad_sequences([u.frames for u in utterances])
    longest = max(1, max(len(u.labels) for u in utterances))
    labels = torch.full((len(utterances), longest), BLANK, dtype=torch.long)
    for row, utterance in enumerate(utterances):
        labels[row, : len(utterance.labels)] = utterance.labels
    label_lengths = torch.tensor([len(u.labels) for u in utterances], dtype=torch.long)
    return {
        "features": features,
        "lengths": lengths,
        "labels": labels,
        "label_lengths": label_lengths,
    }


def ctc_loss_sum(model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """The summed CTC loss of a batch and the model's ``log_probs (B, T', V)``."""
    log_probs, out_lengths = model(batch["features"], batch["lengths"])
    loss = F.ctc_loss(
        log_probs.transpose(0, 1),
        batch["labels"],
        out_lengths,
        batch["label_lengths"].cpu(),
        blank=BLANK,
        reduction="sum",
        zero_infinity=True,
    )
    return loss, log_probs


# ------------------------------------------------------------------------------------ decoding


@dataclass
class Decoder:
    """How log-probabilities become label ids: greedy, or a prefix beam search with an LM."""

    beam: int = 1
    lm: CharNgramLM | WordListLM | None = None
    lm_weight: float = 0.5

    def decode(self, log_probs: Tensor, lengths: Tensor) -> list[list[int]]:
        """Label ids of each row of ``log_probs (B, T, V)`` up to its length."""
        log_probs = mask_unused_labels(log_probs)
        if self.beam <= 1 and self.lm is None:
            return ctc_greedy(log_probs, lengths, blank=BLANK)
        return ctc_beam_search_batch(
            log_probs, lengths, beam=self.beam, blank=BLANK, lm=self.lm, lm_weight=self.lm_weight
        )


def mask_unused_labels(log_probs: Tensor) -> Tensor:
    """``log_probs`` with the tokenizer's unused special ids made impossible."""
    log_probs = log_probs.clone()
    log_probs[..., list(UNUSED_LABELS)] = float("-inf")
    return log_probs


def transcribe_utterances(
    model: CTCRecognizer, utterances: Sequence[Utterance], tokenizer: Tokenizer, decoder: Decoder
) -> tuple[list[str], float]:
    """The text of each utterance, in order, and their summed CTC loss (0 without labels)."""
    texts: list[str] = [""] * len(utterances)
    total_loss = 0.0
    order = sorted(range(len(utterances)), key=lambda i: utterances[i].frames.shape[0])
    device = next(model.parameters()).device
    with torch.no_grad():
        for start in range(0, len(order), EVAL_BATCH):
            indices = order[start : start + EVAL_BATCH]
            batch = make_batch([utterances[i] for i in indices])
            batch = {key: value.to(device) for key, value in batch.items()}
            loss, log_probs = ctc_loss_sum(model, batch)
            total_loss += float(loss)
            out_lengths = model.output_lengths(batch["lengths"].cpu())
            for index, ids in zip(
                indices, decoder.decode(log_probs.cpu(), out_lengths), strict=True
            ):
                texts[index] = tokenizer.decode(ids)
    return texts, total_loss


# ------------------------------------------------------------------------------------ training


@dataclass
class Augmentation:
    """SpecAugment's mask counts and widths."""

    freq_masks: int
    freq_width: int
    time_masks: int
    time_width: int

    def __call__(self, batch: dict[str, Tensor], generator: torch.Generator) -> dict[str, Tensor]:
        features = spec_augment(
            batch["features"],
            batch["lengths"],
            generator=generator,
            freq_masks=self.freq_masks,
            freq_width=self.freq_width,
            time_masks=self.time_masks,
            time_width=self.time_width,
        )
        return {**batch, "features": features}


class CTCObjective:
    """CTC loss per file over length-bucketed batches; validation CER, WER and loss."""

    monitor = "cer"
    mode: Literal["min", "max"] = "min"

    def __init__(
        self,
        train: list[Utterance],
        val: list[Utterance],
        tokenizer: Tokenizer,
        *,
        batch_size: int,
        augmentation: Augmentation | None,
        decoder: Decoder,
    ) -> None:
        self.train, self.val, self.tokenizer = train, val, tokenizer
        self.batch_size, self.augmentation, self.decoder = batch_size, augmentation, decoder
        self.lengths = [u.frames.shape[0] for u in train]

    def batches_per_epoch(self) -> int:
        return len(bucket_batches(self.lengths, self.batch_size, torch.Generator().manual_seed(0)))

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[dict[str, Tensor]]:
        for indices in bucket_batches(self.lengths, self.batch_size, generator):
            batch = make_batch([self.train[i] for i in indices])
            # masks drawn here, from the data-order generator, are the same on resume and
            # whatever the number of processes (each rank takes its rows of the masked batch)
            yield self.augmentation(batch, generator) if self.augmentation else batch

    def training_step(self, model: nn.Module, batch: dict[str, Tensor], carry: Any) -> StepResult:
        loss, _ = ctc_loss_sum(model, batch)
        files = batch["features"].shape[0]
        return StepResult(loss=loss / max(1, files), items=files)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if not self.val:
            return {}
        texts, loss = transcribe_utterances(model, self.val, self.tokenizer, self.decoder)
        rates = error_rates([u.text for u in self.val], texts)
        return {"cer": rates["cer"], "wer": rates["wer"], "loss": loss / len(self.val)}


# ------------------------------------------------------------------------------------ the task


class SpeechTask(Task[SpeechOptions]):
    """The speech task: audio and transcripts, an alphabet and feature statistics fitted on them,
    a ``CTCRecognizer``."""

    name = TASK
    options_class = SpeechOptions
    summary = "Train a speech recogniser (CTC) on audio files and their transcripts."
    artifact_files = (TOKENIZER_FILE, FEATURES_FILE, LM_FILE, ALIGNMENT_PLOT)
    described_model = {
        **RNN_DESCRIPTION,
        "bidirectional": "bidirectional",
        "frames_per_step": "subsample",
    }
    evaluate_accepts = ("output",)

    def prepare(self, options: SpeechOptions, resumed: Run | None) -> Prepared:
        train_items, val_items = _read_items(options)
        if resumed is not None:
            tokenizer = load_tokenizer(resumed.path, TOKENIZER_FILE.removesuffix(".json"))
            featurizer = AudioFeaturizer.load(resumed.file(FEATURES_FILE))
        else:
            texts = [normalise_text(item.text or "", options.lowercase) for item in train_items]
            tokenizer = CharTokenizer.train(texts)
            rate = options.sample_rate or most_common_rate([item.path for item in train_items])
            featurizer = options.featurizer(rate)
        _check_alphabet(val_items, tokenizer, options)
        train = read_utterances(train_items, featurizer, tokenizer, options.lowercase)
        val = read_utterances(val_items, featurizer, tokenizer, options.lowercase)
        train = _drop_unalignable(train, options.subsample, options.data)
        lm = None
        if options.lm_order:
            lm = (
                _load_lm(resumed.file(LM_FILE))
                if resumed is not None
                else CharNgramLM.fit(
                    [u.labels.tolist() for u in train],
                    order=options.lm_order,
                    vocab_size=tokenizer.vocab_size,
                )
            )
        model = build_model(options, featurizer.num_features, tokenizer.vocab_size)
        augmentation = (
            Augmentation(
                options.freq_masks, options.freq_width, options.time_masks, options.time_width
            )
            if options.spec_augment
            else None
        )
        artifacts: dict[str, Any] = {
            TOKENIZER_FILE: tokenizer.to_dict(),
            FEATURES_FILE: featurizer.to_dict(),
        }
        if lm is not None:
            artifacts[LM_FILE] = lm.to_dict()
        data = {
            "train_file": str(options.data),
            "val_file": str(options.val) if options.val is not None else None,
            "train_files": len(train),
            "val_files": len(val),
            "train_seconds": round(sum(u.seconds for u in train), 1),
            "alphabet": "".join(
                tokenizer.id_to_token(i) for i in range(len(SPECIAL_TOKENS), tokenizer.vocab_size)
            ),
            "sample_rate": featurizer.settings.sample_rate,
        }

        def finish(model: nn.Module, results: dict[str, Any]) -> dict[str, Any]:
            if val:
                plot_alignment(model, val[0], tokenizer, featurizer, options.out / ALIGNMENT_PLOT)
            return {}

        return Prepared(
            model=model,
            objective=CTCObjective(
                train,
                val,
                tokenizer,
                batch_size=options.batch_size,
                augmentation=augmentation,
                decoder=Decoder(),  # validation decodes greedily: fast and what streaming gives
            ),
            sections={"data": data},
            artifacts=artifacts,
            finish=finish,
        )

    def model_from_config(self, model_config: dict[str, Any]) -> CTCRecognizer:
        return CTCRecognizer.from_config(model_config)

    def evaluate(
        self,
        run: Run,
        data: Path,
        *,
        encoding: str = "utf-8",
        output: Path | None = None,
        **decoding: Any,
    ) -> dict[str, Any]:
        """Corpus ``cer`` and ``wer`` of the run's transcriptions of ``data``'s files against
        their transcripts, the mean CTC ``loss`` per file, ``files``, ``audio_seconds`` and
        ``unknown_characters`` (characters of the transcripts outside the run's alphabet: they
        count as errors). ``output`` gets one CSV row of errors per file."""
        loaded = self.load(run)
        options = loaded.options
        items = read_transcribed_audio(
            data,
            label_from_name=options.label_from_name,
            path_column=options.path_column,
            text_column=options.text_column,
            encoding=encoding,
        )
        utterances = read_utterances(items, loaded.featurizer, loaded.tokenizer, options.lowercase)
        decoder = loaded.decoder(**decoding)
        texts, loss = transcribe_utterances(loaded.model, utterances, loaded.tokenizer, decoder)
        references = [u.text for u in utterances]
        rates = error_rates(references, texts)
        if output is not None:
            _write_errors(output, utterances, texts)
        return {
            "cer": rates["cer"],
            "wer": rates["wer"],
            "loss": loss / len(utterances),
            "files": len(utterances),
            "audio_seconds": round(sum(u.seconds for u in utterances), 3),
            "unknown_characters": sum(unknown_characters(references, loaded.tokenizer).values()),
            "char_errors": rates["char_errors"],
            "chars": rates["chars"],
            "word_errors": rates["word_errors"],
            "words": rates["words"],
        }

    def load(self, run: Run) -> SpeechRun:
        """The trained model (eval mode, CPU), alphabet, featurizer and LM of a speech run."""
        model = self.load_model(run)
        tokenizer = load_tokenizer(run.path, TOKENIZER_FILE.removesuffix(".json"))
        featurizer = AudioFeaturizer.load(run.file(FEATURES_FILE))
        config = model.config()
        run.require_fit(TOKENIZER_FILE, "labels", tokenizer.vocab_size, config["num_labels"])
        run.require_fit(
            FEATURES_FILE, "features per frame", featurizer.num_features, config["num_features"]
        )
        options = run.options(SpeechOptions)
        lm = _load_lm(run.file(LM_FILE)) if options.lm_order else None
        return SpeechRun(run, model, tokenizer, featurizer, lm, options)

    def describe_data(self, data: dict[str, Any]) -> dict[str, Any]:
        return {
            key: data.get(key)
            for key in ("train_file", "train_files", "val_files", "train_seconds", "alphabet")
        } | {"sample_rate": data.get("sample_rate")}


TASK_SPEC = SpeechTask()


@dataclass
class SpeechRun:
    """A speech run loaded for use: model, alphabet, featurizer, LM and the options."""

    run: Run
    model: CTCRecognizer
    tokenizer: Tokenizer
    featurizer: AudioFeaturizer
    lm: CharNgramLM | None
    options: SpeechOptions

    def decoder(
        self,
        beam: int | None = None,
        lm_weight: float | None = None,
        words: Path | None = None,
        encoding: str = "utf-8",
    ) -> Decoder:
        """The run's decoder (its ``beam``, LM and ``lm_weight``), each setting overridable;
        ``words``, a file of one word per line, replaces the n-gram model by a word list."""
        beam = self.options.beam if beam is None else beam
        if beam < 1:
            raise UserError(f"--beam must be a whole number >= 1, got {beam}.")
        lm: CharNgramLM | WordListLM | None = self.lm
        if words is not None:
            lm = self.word_list(words, encoding)
        weight = self.options.lm_weight if lm_weight is None else lm_weight
        if weight < 0:
            raise UserError(f"--lm-weight must be >= 0, got {weight}.")
        return Decoder(beam, lm, weight)

    def word_list(self, path: Path, encoding: str) -> WordListLM:
        """A word-list model of the words in ``path`` (one per line), spelled in the alphabet."""
        words = [
            normalise_text(line, self.options.lowercase)
            for line in read_text(path, encoding=encoding).splitlines()
            if line.strip()
        ]
        if not words:
            raise UserError(f"{path} lists no words; give one word per line.")
        separator = self.tokenizer.encode(" ")
        if not separator or separator[0] == self.tokenizer.unk_id:
            raise UserError(
                f"the run's alphabet has no space, so a word list ({path}) cannot apply to it."
            )
        spelled = [self.tokenizer.encode(word) for word in words]
        return WordListLM(spelled, separator=separator[0])


def train(options: SpeechOptions) -> Path:
    """Train a speech recogniser as ``options`` say; return the run directory."""
    return lifecycle.train(TASK_SPEC, options)


def build_model(options: SpeechOptions, num_features: int, num_labels: int) -> CTCRecognizer:
    """The untrained recogniser ``options`` describe."""
    return CTCRecognizer(
        num_features,
        num_labels,
        hidden_size=options.hidden,
        num_layers=options.layers,
        cell=options.cell,
        bidirectional=options.bidirectional,
        subsample=options.subsample,
        dropout=options.dropout,
    )


def _read_items(options: SpeechOptions) -> tuple[list[TranscribedAudio], list[TranscribedAudio]]:
    """Training and validation files (validation: ``--val``, or a seeded share of ``--data``)."""

    def read(path: Path) -> list[TranscribedAudio]:
        return read_transcribed_audio(
            path,
            label_from_name=options.label_from_name,
            path_column=options.path_column,
            text_column=options.text_column,
            encoding=options.encoding,
        )

    items = read(options.data)
    if options.val is not None:
        return items, read(options.val)
    if len(items) < 2:
        raise UserError(
            f"{options.data} lists a single file; give more, or a validation set with --val."
        )
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(options.seed))
    held_out = max(1, round(len(items) * options.val_fraction))
    val_rows = set(order[:held_out].tolist())
    train = [item for i, item in enumerate(items) if i not in val_rows]
    return train, [item for i, item in enumerate(items) if i in val_rows]


def _check_alphabet(
    items: Sequence[TranscribedAudio], tokenizer: Tokenizer, options: SpeechOptions
) -> None:
    """``UserError`` when a validation transcript has a character no training one has."""
    for item in items:
        text = normalise_text(item.text or "", options.lowercase)
        unknown = unknown_characters([text], tokenizer)
        if unknown:
            character = next(iter(unknown))
            source = options.val if options.val is not None else options.data
            raise UserError(
                f"{source}: the transcript of {item.path.name} has {character!r}, which no "
                "training transcript has; add training files with it or fix the transcript."
            )


def _drop_unalignable(utterances: list[Utterance], subsample: int, source: Path) -> list[Utterance]:
    """The training files long enough for their transcripts after stacking; the others are
    counted in the log (their CTC loss would be infinite)."""
    kept: list[Utterance] = []
    dropped: list[Utterance] = []
    for u in utterances:
        fits = ctc_frames_needed(u.labels.tolist()) <= -(-u.frames.shape[0] // subsample)
        (kept if fits else dropped).append(u)
    if not kept:
        raise UserError(
            f"{source}: every file is too short for its transcript after stacking {subsample} "
            "frames per step; lower --subsample or check the transcripts."
        )
    if dropped:
        print(
            f"warning: skipping {len(dropped)} of {len(utterances)} training files that are too "
            f"short for their transcripts at --subsample {subsample} (first: {dropped[0].path})",
            file=sys.stderr,
        )
    return kept


def _load_lm(path: Path) -> CharNgramLM:
    from rnnkit.data.readers import read_json_file

    return read_json_file(path, CharNgramLM.from_dict, "character language model")


def _write_errors(output: Path, utterances: Sequence[Utterance], texts: Sequence[str]) -> None:
    """One CSV row per file: path, reference, hypothesis and its errors."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["path", "reference", "hypothesis", "cer", "wer", "char_errors", "word_errors"])
    for utterance, text in zip(utterances, texts, strict=True):
        errors = utterance_errors(utterance.text, text)
        writer.writerow(
            [
                str(utterance.path),
                utterance.text,
                text,
                f"{errors['cer']:.4f}",
                f"{errors['wer']:.4f}",
                errors["char_errors"],
                errors["word_errors"],
            ]
        )
    write_output(output, buffer.getvalue())


def plot_alignment(
    model: nn.Module,
    utterance: Utterance,
    tokenizer: Tokenizer,
    featurizer: AudioFeaturizer,
    path: Path,
) -> None:
    """``path``: the utterance's features with the frames where each character is emitted."""
    from rnnkit.viz.alignment import plot_ctc_alignment

    with torch.no_grad():
        log_probs, _ = model(utterance.frames[None], torch.tensor([utterance.frames.shape[0]]))
    best = ctc_greedy_alignment(mask_unused_labels(log_probs[0]), blank=BLANK)
    symbols = [None if i == BLANK else tokenizer.id_to_token(i) for i in best]
    plot_ctc_alignment(
        utterance.frames,
        symbols,
        log_probs[0].exp(),
        frames_per_step=model.subsample,
        hop_seconds=featurizer.settings.hop_ms / 1000,
        path=path,
        title=f"{utterance.path.name}: {utterance.text!r}",
    )


# ------------------------------------------------------------------------------------ using a run


def load_run(run_dir: str | Path) -> SpeechRun:
    """A speech run loaded for use; checked."""
    return TASK_SPEC.load(TASK_SPEC.open(run_dir))


def evaluate(run_dir: str | Path, data: str | Path, **options: Any) -> dict[str, Any]:
    """CER, WER, loss, files and audio seconds of the run on a ``path,text`` table or folder."""
    return TASK_SPEC.evaluate(TASK_SPEC.open(run_dir), Path(data), **options)


def transcribe_files(
    run_dir: str | Path, paths: Sequence[str | Path], **decoding: Any
) -> list[str]:
    """The transcript of each audio file, in order (``decoding``: ``beam``, ``lm_weight``,
    ``words``)."""
    loaded = load_run(run_dir)
    items = [TranscribedAudio(Path(p), None) for p in paths]
    return _transcribe(loaded, items, decoding)


def transcribe_table(
    run_dir: str | Path,
    data: str | Path,
    output: str | Path | None,
    *,
    encoding: str = "utf-8",
    **decoding: Any,
) -> int:
    """Transcribe the files of a table or folder into a ``path,text`` CSV at ``output`` (stdout
    when None); return the number of files."""
    loaded = load_run(run_dir)
    items = read_transcribed_audio(
        data,
        label_from_name=None,
        path_column=loaded.options.path_column,
        text_column=loaded.options.text_column,
        encoding=encoding,
        need_text=False,
    )
    texts = _transcribe(loaded, items, {**decoding, "encoding": encoding})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["path", "text"])
    writer.writerows([str(item.path), text] for item, text in zip(items, texts, strict=True))
    write_output(None if output is None else Path(output), buffer.getvalue())
    return len(items)


def _transcribe(loaded: SpeechRun, items: Sequence[TranscribedAudio], decoding: dict) -> list[str]:
    decoder = loaded.decoder(**decoding)
    utterances = read_utterances(
        items, loaded.featurizer, loaded.tokenizer, loaded.options.lowercase
    )
    return transcribe_utterances(loaded.model, utterances, loaded.tokenizer, decoder)[0]


def stream_transcription(
    run_dir: str | Path, path: str | Path, *, chunk_ms: float = 100.0
) -> Iterator[str]:
    """Transcribe ``path`` as if it arrived ``chunk_ms`` at a time: yield the new text after each
    chunk (often empty). The pieces join to the one-pass greedy transcript."""
    loaded = load_run(run_dir)
    model, featurizer, tokenizer = loaded.model, loaded.featurizer, loaded.tokenizer
    if model.bidirectional:
        raise UserError(
            f"{loaded.run.path} was trained bidirectional, which needs the whole file; train with "
            "--no-bidirectional to stream."
        )
    if featurizer.normalize != "global":
        raise UserError(
            f"{loaded.run.path} normalises each file by its own statistics, which need the whole "
            "file; train with --normalize global to stream."
        )
    if chunk_ms <= 0:
        raise UserError(f"--chunk-ms must be positive, got {chunk_ms}.")
    samples = read_audio(Path(path), featurizer.settings.sample_rate)
    chunk = max(1, round(featurizer.settings.sample_rate * chunk_ms / 1000))
    yield from stream_text(model, featurizer, tokenizer, samples.split(chunk))


def stream_text(
    model: CTCRecognizer,
    featurizer: AudioFeaturizer,
    tokenizer: Tokenizer,
    chunks: Sequence[Tensor],
) -> Iterator[str]:
    """Greedy CTC text of audio arriving in ``chunks`` of samples ``(n,)``, one piece per chunk
    and a last piece when the audio ends."""
    features = StreamingFeatures(featurizer.settings)
    state = model.start_stream(1)
    previous = BLANK
    with torch.no_grad():
        for samples in chunks:
            frames = featurizer.normalise(features.push(samples))
            log_probs, state = model.stream_step(frames[None], state)
            piece, previous = _greedy_piece(log_probs[0], previous, tokenizer)
            yield piece
        piece, _ = _greedy_piece(model.finish_stream(state)[0], previous, tokenizer)
        yield piece


def _greedy_piece(log_probs: Tensor, previous: int, tokenizer: Tokenizer) -> tuple[str, int]:
    """Text of the best path through ``log_probs (t, V)`` continuing after label ``previous``."""
    best = (
        ctc_greedy_alignment(mask_unused_labels(log_probs), blank=BLANK) if len(log_probs) else []
    )
    emitted = []
    for label in best:
        if label != BLANK and label != previous:
            emitted.append(label)
        previous = label
    return tokenizer.decode(emitted), previous


def describe(run_dir: str | Path) -> dict[str, Any]:
    """Task, model, size, data, training and metrics of a speech run, as a nested dict."""
    return TASK_SPEC.describe(TASK_SPEC.open(run_dir))
