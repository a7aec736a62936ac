"""``rnnkit train translate`` and ``rnnkit translate``: the command line of
``rnnkit.tasks.translate`` (``rnnkit evaluate`` on a translate run lives in ``cli/runs.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from rnnkit.cli.app import app, train_app
from rnnkit.cli.common_flags import (
    MODEL_PANEL,
    CellFlag,
    EncodingFlag,
    LowercaseFlag,
    OutFlag,
    TokenizerFlag,
    flag_option,
)
from rnnkit.cli.options import train_command_options
from rnnkit.cli.runs import RunDirArgument
from rnnkit.cli.training_flags import with_training_flags
from rnnkit.errors import UserError
from rnnkit.tasks import translate as tr

DEFAULTS = tr.TranslateOptions()
_TEACHING, _DECODING = "Teacher forcing", "Decoding"


@train_app.command("translate")
@with_training_flags(tr.TranslateOptions)
def train_translate(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        flag_option("Training pairs, one source<TAB>target per line."),
    ] = DEFAULTS.data,
    val: Annotated[
        Path | None,
        flag_option("Validation pairs; BLEU on them picks the weights."),
    ] = DEFAULTS.val,
    out: OutFlag = DEFAULTS.out,
    encoding: EncodingFlag = DEFAULTS.encoding,
    max_source_length: Annotated[
        int,
        flag_option("Most source tokens; longer ones are cut."),
    ] = DEFAULTS.max_source_length,
    max_target_length: Annotated[
        int,
        flag_option("Most target tokens; longer ones are cut."),
    ] = DEFAULTS.max_target_length,
    tokenizer: TokenizerFlag = DEFAULTS.tokenizer,
    shared_vocab: Annotated[
        bool,
        flag_option("One vocabulary and embedding for both sides."),
    ] = DEFAULTS.shared_vocab,
    vocab_size: Annotated[
        int | None,
        flag_option("word: words kept; bpe: vocabulary size (8000)."),
    ] = DEFAULTS.vocab_size,
    min_count: Annotated[
        int | None,
        flag_option("word: fewest uses kept (2); bpe: to merge."),
    ] = DEFAULTS.min_count,
    lowercase: LowercaseFlag = DEFAULTS.lowercase,
    cell: CellFlag = DEFAULTS.cell,
    embedding_size: Annotated[
        int, flag_option("Embedding width.", MODEL_PANEL)
    ] = DEFAULTS.embedding_size,
    encoder_hidden: Annotated[
        int, flag_option("Encoder units per direction.", MODEL_PANEL)
    ] = DEFAULTS.encoder_hidden,
    encoder_layers: Annotated[
        int, flag_option("Encoder layers.", MODEL_PANEL)
    ] = DEFAULTS.encoder_layers,
    bidirectional: Annotated[
        bool, flag_option("Read the source both ways.", MODEL_PANEL)
    ] = DEFAULTS.bidirectional,
    decoder_hidden: Annotated[
        int, flag_option("Decoder units.", MODEL_PANEL)
    ] = DEFAULTS.decoder_hidden,
    decoder_layers: Annotated[
        int, flag_option("Decoder layers.", MODEL_PANEL)
    ] = DEFAULTS.decoder_layers,
    attention: Annotated[
        Literal["bahdanau", "luong-dot", "luong-general", "none"],
        flag_option("Attention score; none: plain encoder-decoder.", MODEL_PANEL),
    ] = DEFAULTS.attention,
    attention_size: Annotated[
        int | None,
        flag_option("bahdanau: score width (decoder-hidden).", MODEL_PANEL),
    ] = DEFAULTS.attention_size,
    input_feeding: Annotated[
        bool,
        flag_option("Feed the last attentional vector back in.", MODEL_PANEL),
    ] = DEFAULTS.input_feeding,
    bridge: Annotated[
        Literal["linear", "zero"],
        flag_option("Decoder's first state from the encoder's last.", MODEL_PANEL),
    ] = DEFAULTS.bridge,
    dropout: Annotated[
        float,
        flag_option("Dropout on embeddings, layers, outputs.", MODEL_PANEL),
    ] = DEFAULTS.dropout,
    tie_embeddings: Annotated[
        bool,
        flag_option("Output layer reuses the target embeddings.", MODEL_PANEL),
    ] = DEFAULTS.tie_embeddings,
    batch_size: Annotated[
        int, flag_option("Sentence pairs per batch.", _TEACHING)
    ] = DEFAULTS.batch_size,
    label_smoothing: Annotated[
        float, flag_option("Label smoothing of the loss.", _TEACHING)
    ] = DEFAULTS.label_smoothing,
    teacher_forcing: Annotated[
        float,
        flag_option("Share of steps fed the true previous token.", _TEACHING),
    ] = DEFAULTS.teacher_forcing,
    teacher_forcing_end: Annotated[
        float | None,
        flag_option("Scheduled sampling: ratio to decay to.", _TEACHING),
    ] = DEFAULTS.teacher_forcing_end,
    teacher_forcing_decay_epochs: Annotated[
        float,
        flag_option("Epochs of the linear decay.", _TEACHING),
    ] = DEFAULTS.teacher_forcing_decay_epochs,
    beam: Annotated[
        int, flag_option("Default beam of translate/evaluate.", _DECODING)
    ] = DEFAULTS.beam,
    length_penalty: Annotated[
        float,
        flag_option("GNMT length penalty alpha; 0: none.", _DECODING),
    ] = DEFAULTS.length_penalty,
    max_length_ratio: Annotated[
        float,
        flag_option("Output tokens allowed per source token.", _DECODING),
    ] = DEFAULTS.max_length_ratio,
    no_repeat_ngram: Annotated[
        int,
        flag_option("No n-gram this long twice; 0: off.", _DECODING),
    ] = DEFAULTS.no_repeat_ngram,
    allow_unknown: Annotated[
        bool,
        flag_option("Let outputs contain the unknown token.", _DECODING),
    ] = DEFAULTS.allow_unknown,
) -> None:
    """Train an encoder-decoder with attention on sentence pairs."""
    options = train_command_options(tr.TranslateOptions, ctx, tr.TASK)
    run_dir = tr.train(options)
    typer.echo(f"run written to {run_dir}", err=True)


@app.command()
def translate(
    run_dir: RunDirArgument,
    text: Annotated[
        list[str] | None, typer.Option(help="Sentence to translate (repeatable).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="File of sentences, one per line (TSV: first column).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write --data's translations here, line by line.")
    ] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of --data.")] = "utf-8",
    beam: Annotated[
        int | None, typer.Option(help="Beam size; 1 is greedy (default: the run's).")
    ] = None,
    length_penalty: Annotated[
        float | None, typer.Option(help="GNMT length penalty alpha (default: the run's).")
    ] = None,
    max_length_ratio: Annotated[
        float | None,
        typer.Option(help="Output tokens allowed per source token (default: the run's)."),
    ] = None,
    no_repeat_ngram: Annotated[
        int | None,
        typer.Option(help="Forbid repeated n-grams this long; 0: off (default: the run's)."),
    ] = None,
    allow_unknown: Annotated[
        bool | None,
        typer.Option(
            "--allow-unknown/--forbid-unknown",
            help="Whether outputs may contain the unknown token (default: the run's).",
        ),
    ] = None,
    attention_plot: Annotated[
        Path | None, typer.Option(help="Draw the attention of the (first) --text into this PNG.")
    ] = None,
) -> None:
    """Translate sentences with a translate run: --text to stdout, or --data to --output."""
    if (text is None) == (data is None):
        raise UserError("give either --text SENTENCE or --data FILE (with --output FILE).")
    if data is not None and output is None:
        raise UserError("--data needs --output FILE to write the translations to.")
    if attention_plot is not None and text is None:
        raise UserError("--attention-plot draws one sentence; give it with --text.")
    decoding = dict(
        beam=beam,
        length_penalty=length_penalty,
        max_length_ratio=max_length_ratio,
        no_repeat_ngram=no_repeat_ngram,
        allow_unknown=allow_unknown,
    )
    if data is not None:
        count = tr.translate_file(run_dir, data, output, encoding=encoding, **decoding)
        typer.echo(f"{count} translations written to {output}", err=True)
        return
    for translation in tr.translate(run_dir, text, what="--text", **decoding):
        typer.echo(translation)
    if attention_plot is not None:
        tr.plot_attention_of(run_dir, text[0], attention_plot, **decoding)
        typer.echo(f"attention plot written to {attention_plot}", err=True)
