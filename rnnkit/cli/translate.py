"""``rnnkit train translate`` and ``rnnkit translate``: the command line of
``rnnkit.tasks.translate`` (``rnnkit evaluate`` on a translate run lives in ``cli/runs.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from rnnkit.cli.app import app, train_app
from rnnkit.cli.options import options_from_context, resumed_options
from rnnkit.cli.runs import RunDirArgument
from rnnkit.cli.training_flags import with_training_flags
from rnnkit.errors import UserError
from rnnkit.tasks import translate as tr

DEFAULTS = tr.TranslateOptions()
_DATA, _MODEL, _TEACHING, _DECODING = "Data", "Model", "Teacher forcing", "Decoding"


@train_app.command("translate")
@with_training_flags(tr.TranslateOptions)
def train_translate(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option(help="Training pairs, one source<TAB>target per line.", rich_help_panel=_DATA),
    ] = DEFAULTS.data,
    val: Annotated[
        Path | None,
        typer.Option(
            help="Validation pairs; BLEU on them picks the weights.", rich_help_panel=_DATA
        ),
    ] = DEFAULTS.val,
    out: Annotated[
        Path | None, typer.Option(help="Run directory to write.", rich_help_panel=_DATA)
    ] = DEFAULTS.out,
    encoding: Annotated[
        str, typer.Option(help="Text encoding of the files.", rich_help_panel=_DATA)
    ] = DEFAULTS.encoding,
    max_source_length: Annotated[
        int, typer.Option(help="Most source tokens; longer ones are cut.", rich_help_panel=_DATA)
    ] = DEFAULTS.max_source_length,
    max_target_length: Annotated[
        int, typer.Option(help="Most target tokens; longer ones are cut.", rich_help_panel=_DATA)
    ] = DEFAULTS.max_target_length,
    tokenizer: Annotated[
        Literal["char", "word", "bpe"], typer.Option(help="Tokens to model.", rich_help_panel=_DATA)
    ] = DEFAULTS.tokenizer,
    shared_vocab: Annotated[
        bool,
        typer.Option(help="One vocabulary and embedding for both sides.", rich_help_panel=_DATA),
    ] = DEFAULTS.shared_vocab,
    vocab_size: Annotated[
        int | None,
        typer.Option(help="word: words kept; bpe: vocabulary size (8000).", rich_help_panel=_DATA),
    ] = DEFAULTS.vocab_size,
    min_count: Annotated[
        int | None,
        typer.Option(help="word: fewest uses kept (2); bpe: to merge.", rich_help_panel=_DATA),
    ] = DEFAULTS.min_count,
    lowercase: Annotated[
        bool, typer.Option(help="word: lowercase all text.", rich_help_panel=_DATA)
    ] = DEFAULTS.lowercase,
    cell: Annotated[
        str, typer.Option(help=f"Cell: {', '.join(tr.CELL_NAMES)}.", rich_help_panel=_MODEL)
    ] = DEFAULTS.cell,
    embedding_size: Annotated[
        int, typer.Option(help="Embedding width.", rich_help_panel=_MODEL)
    ] = DEFAULTS.embedding_size,
    encoder_hidden: Annotated[
        int, typer.Option(help="Encoder units per direction.", rich_help_panel=_MODEL)
    ] = DEFAULTS.encoder_hidden,
    encoder_layers: Annotated[
        int, typer.Option(help="Encoder layers.", rich_help_panel=_MODEL)
    ] = DEFAULTS.encoder_layers,
    bidirectional: Annotated[
        bool, typer.Option(help="Read the source both ways.", rich_help_panel=_MODEL)
    ] = DEFAULTS.bidirectional,
    decoder_hidden: Annotated[
        int, typer.Option(help="Decoder units.", rich_help_panel=_MODEL)
    ] = DEFAULTS.decoder_hidden,
    decoder_layers: Annotated[
        int, typer.Option(help="Decoder layers.", rich_help_panel=_MODEL)
    ] = DEFAULTS.decoder_layers,
    attention: Annotated[
        Literal["bahdanau", "luong-dot", "luong-general", "none"],
        typer.Option(help="Attention score; none: plain encoder-decoder.", rich_help_panel=_MODEL),
    ] = DEFAULTS.attention,
    attention_size: Annotated[
        int | None,
        typer.Option(help="bahdanau: score width (decoder-hidden).", rich_help_panel=_MODEL),
    ] = DEFAULTS.attention_size,
    input_feeding: Annotated[
        bool,
        typer.Option(help="Feed the last attentional vector back in.", rich_help_panel=_MODEL),
    ] = DEFAULTS.input_feeding,
    bridge: Annotated[
        Literal["linear", "zero"],
        typer.Option(help="Decoder's first state from the encoder's last.", rich_help_panel=_MODEL),
    ] = DEFAULTS.bridge,
    dropout: Annotated[
        float, typer.Option(help="Dropout on embeddings, layers, outputs.", rich_help_panel=_MODEL)
    ] = DEFAULTS.dropout,
    batch_size: Annotated[
        int, typer.Option(help="Sentence pairs per batch.", rich_help_panel=_TEACHING)
    ] = DEFAULTS.batch_size,
    label_smoothing: Annotated[
        float, typer.Option(help="Label smoothing of the loss.", rich_help_panel=_TEACHING)
    ] = DEFAULTS.label_smoothing,
    teacher_forcing: Annotated[
        float,
        typer.Option(help="Share of steps fed the true previous token.", rich_help_panel=_TEACHING),
    ] = DEFAULTS.teacher_forcing,
    teacher_forcing_end: Annotated[
        float | None,
        typer.Option(help="Scheduled sampling: ratio to decay to.", rich_help_panel=_TEACHING),
    ] = DEFAULTS.teacher_forcing_end,
    teacher_forcing_decay_epochs: Annotated[
        float,
        typer.Option(help="Epochs of the linear decay.", rich_help_panel=_TEACHING),
    ] = DEFAULTS.teacher_forcing_decay_epochs,
    beam: Annotated[
        int, typer.Option(help="Default beam of translate/evaluate.", rich_help_panel=_DECODING)
    ] = DEFAULTS.beam,
    length_penalty: Annotated[
        float,
        typer.Option(help="GNMT length penalty alpha; 0: none.", rich_help_panel=_DECODING),
    ] = DEFAULTS.length_penalty,
    max_length_ratio: Annotated[
        float,
        typer.Option(help="Output tokens allowed per source token.", rich_help_panel=_DECODING),
    ] = DEFAULTS.max_length_ratio,
    no_repeat_ngram: Annotated[
        int,
        typer.Option(help="No n-gram this long twice; 0: off.", rich_help_panel=_DECODING),
    ] = DEFAULTS.no_repeat_ngram,
) -> None:
    """Train an encoder-decoder with attention on sentence pairs."""
    options = options_from_context(
        tr.TranslateOptions, ctx, resumed_options(tr.TranslateOptions, ctx, tr.TASK)
    )
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
