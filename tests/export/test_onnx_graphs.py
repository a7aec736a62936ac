"""Each model kind's ONNX graphs, run with onnxruntime, against the model's own eager functions.

The oracle is rnnkit itself on its ordinary path (``backend="auto"``: torch's fused kernels, the
C kernel or the parallel scan where they apply), never the traced graph. Batch and time sizes
differ from the export's example, so the axes must be symbolic. Every cell runs on the language
model; every other model kind on one cell each (a dynamo export takes seconds).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rnnkit.export import model_graphs
from rnnkit.export.graph import Graph
from rnnkit.export.onnx import write_onnx
from rnnkit.layers.recurrent import as_tuple
from rnnkit.layers.rnn import CELL_NAMES
from rnnkit.models import (
    Captioner,
    CTCRecognizer,
    Forecaster,
    ImageClassifier,
    LanguageModel,
    PianoRollModel,
    Seq2Seq,
    SequenceAutoencoder,
    SequenceClassifier,
    SequenceTagger,
)
from rnnkit.models.classifier_ensemble import ClassifierEnsemble
from rnnkit.models.video import ClipClassifier, FramePredictor

ort = pytest.importorskip("onnxruntime", reason="ONNX tests need the export extra")
pytest.importorskip("onnxscript", reason="ONNX tests need the export extra")

TOLERANCE = 1e-4


def sessions(model, tmp_path) -> dict:
    """Export every graph of ``model``; return {graph name: onnxruntime session}."""
    opened = {}
    for graph in model_graphs(model):
        path = write_onnx(graph, tmp_path / f"{graph.name}.onnx")
        opened[graph.name] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return opened


def run(session, **feeds) -> dict[str, np.ndarray]:
    """Run ``session`` on named tensors; outputs by name."""
    arrays = {name: value.numpy() for name, value in feeds.items()}
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(names, arrays), strict=True))


def state_feeds(state, suffix="_in") -> dict[str, torch.Tensor]:
    return dict(zip((f"h{suffix}", f"c{suffix}"), as_tuple(state), strict=False))


def close(actual: np.ndarray, expected: torch.Tensor, what: str = "") -> None:
    expected = expected.detach().numpy()
    assert actual.shape == expected.shape, what
    np.testing.assert_allclose(actual, expected, rtol=0, atol=TOLERANCE, err_msg=what)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


class Bundle(nn.Module):
    """Several graphs' modules side by side in one graph: one export instead of one per cell."""

    def __init__(self, graphs: list[Graph]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(graph.module for graph in graphs)
        self.counts = [len(graph.inputs) for graph in graphs]

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs, used = [], 0
        for part, count in zip(self.parts, self.counts, strict=True):
            outputs += part(*inputs[used : used + count])
            used += count
        return tuple(outputs)


def bundle(graphs: dict[str, Graph]) -> Graph:
    """The graphs named by prefix as one ``Graph`` (inputs and outputs ``<prefix>_<name>``)."""
    return Graph(
        name="bundle",
        module=Bundle(list(graphs.values())),
        inputs={f"{p}_{k}": v for p, g in graphs.items() for k, v in g.inputs.items()},
        outputs=tuple(f"{p}_{name}" for p, g in graphs.items() for name in g.outputs),
        axes={f"{p}_{k}": v for p, g in graphs.items() for k, v in g.axes.items()},
    )


def test_language_model_every_cell_whole_and_streamed(tmp_path):
    models = {
        cell: LanguageModel(13, embedding_size=6, hidden_size=8, num_layers=1, cell=cell).eval()
        for cell in sorted(CELL_NAMES)
    }
    # AWD-LSTM's regularisers (weight drop is a parametrization) and tied weights, off in eval
    models["awd"] = LanguageModel(
        13, embedding_size=6, hidden_size=8, num_layers=2, weight_drop=0.3, zoneout=0.2,
        tie_weights=True, locked_dropout=True, dropout=0.2, embedding_dropout=0.1,
    ).eval()  # fmt: skip
    graph = bundle({cell: model_graphs(model)[0] for cell, model in models.items()})
    session = ort.InferenceSession(str(write_onnx(graph, tmp_path / "lm.onnx")))
    tokens = torch.randint(0, 13, (3, 9))
    starts, expected, feeds = {}, {}, {}
    for cell, model in models.items():
        start = tuple(torch.randn_like(part) for part in as_tuple(model.initial_state(3)))
        starts[cell] = start[0] if len(start) == 1 else start
        with torch.no_grad():
            expected[cell] = model(tokens, starts[cell])
        feeds[f"{cell}_tokens"] = tokens
        feeds.update({f"{cell}_{k}": v for k, v in state_feeds(starts[cell]).items()})
    whole = run(session, **feeds)
    for cell, (logits, state) in expected.items():
        close(whole[f"{cell}_logits"], logits, cell)
        for name, part in state_feeds(state, "_out").items():
            close(whole[f"{cell}_{name}"], part, cell)

    # one token at a time, each step fed the state the previous step returned
    streamed: dict[str, list[np.ndarray]] = {cell: [] for cell in models}
    for token in tokens.unbind(1):
        feeds.update({f"{cell}_tokens": token.unsqueeze(1) for cell in models})
        out = run(session, **feeds)
        for cell in models:
            streamed[cell].append(out[f"{cell}_logits"])
            for component in ("h", "c"):
                if f"{cell}_{component}_in" in feeds:
                    feeds[f"{cell}_{component}_in"] = torch.from_numpy(
                        out[f"{cell}_{component}_out"]
                    )
    for cell, (logits, _) in expected.items():
        close(np.concatenate(streamed[cell], axis=1), logits, cell)


def test_classifier_on_a_padded_batch(tmp_path):
    model = SequenceClassifier(
        4, vocab_size=20, embedding_size=6, hidden_size=7, cell="gru", pooling="attention"
    ).eval()
    session = sessions(model, tmp_path)["model"]
    inputs = torch.randint(1, 20, (3, 8))
    lengths = torch.tensor([8, 3, 5])
    with torch.no_grad():
        logits, weights = model.forward_with_weights(inputs, lengths)
    out = run(session, inputs=inputs, lengths=lengths)
    close(out["logits"], logits)
    close(out["weights"], weights)
    # padding never leaks: a row alone and unpadded gives the same logits
    alone = run(session, inputs=inputs[1:2, :3], lengths=lengths[1:2])
    np.testing.assert_allclose(alone["logits"], out["logits"][1:2], atol=1e-5)


def test_classifier_ensemble_with_ngram_features_on_a_padded_batch(tmp_path):
    """Character n-grams, and the hybrid's linear model of word uni- and bigram ids after them."""
    member = SequenceClassifier(
        3, vocab_size=20, embedding_size=6, hidden_size=5, pooling="max_attention",
        ngram_buckets=50, word_ngram_buckets=40,
    )  # fmt: skip
    model = ClassifierEnsemble(2, member.config()).eval()
    with torch.no_grad():
        for classifier in model.members:
            classifier.word_ngrams.weight[1:].normal_()
    session = sessions(model, tmp_path)["model"]
    words, grams = torch.randint(1, 20, (3, 8, 1)), torch.randint(0, 50, (3, 8, 6))
    inputs = torch.cat([words, grams, torch.randint(0, 40, (3, 8, 2))], -1)
    lengths = torch.tensor([8, 3, 5])
    with torch.no_grad():
        logits, weights = model.forward_with_weights(inputs, lengths)
    out = run(session, inputs=inputs, lengths=lengths)
    close(out["logits"], logits)
    close(out["weights"], weights)


def test_image_classifier_at_another_batch_size(tmp_path):
    """classify ``--images cnn``: the CNN (batch norm with running statistics that are not the
    identity) and the RNN over its rows, at a batch of 5 where the example's is 3."""
    model = ImageClassifier(3, image_channels=1, image_size=12, encoder_widths=(2, 3),
                            hidden_size=5, cell="gru", pooling="attention")  # fmt: skip
    for norm in model.modules():
        if isinstance(norm, nn.BatchNorm2d):
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 2.0)
    model.eval()
    session = sessions(model, tmp_path)["model"]
    assert session.get_inputs()[0].shape == ["batch", 1, 12, 12]
    images = torch.randn(5, 1, 12, 12)
    with torch.no_grad():
        logits = model(images)
        _, weights = model.classifier.forward_with_weights(model.rows(images))
    out = run(session, images=images)
    close(out["logits"], logits)
    close(out["weights"], weights)
    assert out["weights"].shape == (5, 3)  # the 3 rows of the 3 x 3 feature map


def test_tagger_with_character_features_on_a_padded_batch(tmp_path):
    model = SequenceTagger(
        30, 5, embedding_size=6, hidden_size=7, cell="lstm", char_vocab_size=12,
        char_embedding_size=4, char_hidden_size=3,
    ).eval()  # fmt: skip
    session = sessions(model, tmp_path)["model"]
    words = torch.randint(1, 30, (2, 6))
    lengths = torch.tensor([6, 4])
    chars = torch.randint(1, 12, (2, 6, 4))
    char_lengths = torch.randint(1, 5, (2, 6))
    char_lengths[1, 4:] = 0  # padded word slots
    words[1, 4:] = 0
    with torch.no_grad():  # the eager path selects the real words; the graph runs every slot
        logits = model(words, lengths, chars, char_lengths)
    out = run(session, words=words, lengths=lengths, chars=chars, char_lengths=char_lengths)
    close(out["logits"][0], logits[0])
    close(out["logits"][1, :4], logits[1, :4])


def test_translation_encoder_then_decoder_steps(tmp_path):
    model = Seq2Seq(
        15, 17, embedding_size=6, encoder_hidden=5, encoder_layers=1, decoder_hidden=7,
        decoder_layers=2, cell="lstm", attention="bahdanau", dropout=0.0,
    ).eval()  # fmt: skip
    graphs = sessions(model, tmp_path)
    source = torch.randint(4, 15, (3, 7))
    lengths = torch.tensor([7, 2, 5])
    with torch.no_grad():
        state = model.encode(source, lengths)
    encoded = run(graphs["encoder"], source=source, lengths=lengths)
    assert set(encoded) == {"h", "c", "feed", "memory", "keys", "mask"}
    close(encoded["memory"], state["memory"])
    close(encoded["h"], torch.stack([layer[0] for layer in state["layers"]]))

    names = [i.name for i in graphs["decoder_step"].get_inputs()]
    feeds = {name: torch.from_numpy(encoded[name]) for name in names if name != "tokens"}
    tokens = torch.full((3,), model.bos_id)
    for _ in range(3):  # greedy steps, the graph's state fed back
        with torch.no_grad():
            log_probs, state = model.step(tokens, state)
        out = run(graphs["decoder_step"], tokens=tokens, **feeds)
        close(out["log_probs"], log_probs)
        for name in ("h", "c", "feed"):
            feeds[name] = torch.from_numpy(out[f"{name}_out"])
        tokens = log_probs.argmax(-1)


def test_captioner_encoders_then_decoder_steps_for_images_and_keywords(tmp_path):
    models = {
        "image": Captioner(
            11, input_kind="image", image_channels=3, image_size=16, encoder_widths=(4, 6),
            embedding_size=6, decoder_hidden=7, cell="lstm", attention="bahdanau",
            attention_size=5, dropout=0.0,
        ).eval(),
        "words": Captioner(
            11, input_kind="keywords", keyword_vocab_size=9, embedding_size=6, decoder_hidden=7,
            cell="gru", attention="luong-general", dropout=0.0,
        ).eval(),
    }  # fmt: skip
    graphs = {kind: model_graphs(model) for kind, model in models.items()}
    assert [[g.name for g in pair] for pair in graphs.values()] == [["encoder", "decoder_step"]] * 2
    # one export of both encoders and one of both decoder steps (a dynamo export takes seconds)
    encoders, steps = (
        ort.InferenceSession(str(write_onnx(bundle({k: g[i] for k, g in graphs.items()}), path)))
        for i, path in enumerate([tmp_path / "encoders.onnx", tmp_path / "steps.onnx"])
    )
    images = torch.randn(3, 3, 16, 16)  # a batch of 3 where the export's example had 2
    keywords = torch.randint(4, 9, (3, 5))
    lengths = torch.tensor([5, 2, 3])
    keywords[1, 2:], keywords[2, 3:] = 0, 0  # padding
    with torch.no_grad():
        states = {
            "image": models["image"].encode(images),
            "words": models["words"].encode(keywords, lengths),
        }
    encoded = run(encoders, image_images=images, words_keywords=keywords, words_lengths=lengths)
    assert {name for name in encoded if name.startswith("image_")} == {
        "image_h", "image_c", "image_feed", "image_memory", "image_keys", "image_mask",
    }  # fmt: skip
    assert encoded["image_memory"].shape == (3, 16, 6)  # the 4 x 4 grid of 6 features
    for kind, state in states.items():
        close(encoded[f"{kind}_memory"], state["memory"], kind)
        close(encoded[f"{kind}_h"], torch.stack([as_tuple(s)[0] for s in state["layers"]]), kind)

    names = [i.name for i in steps.get_inputs()]
    feeds = {name: torch.from_numpy(encoded[name]) for name in names if "tokens" not in name}
    tokens = {kind: torch.full((3,), models[kind].bos_id) for kind in models}
    for _ in range(3):  # greedy steps, the graph's state fed back
        expected = {}
        with torch.no_grad():
            for kind, model in models.items():
                expected[kind], states[kind] = model.step(tokens[kind], states[kind])
        out = run(steps, **{f"{k}_tokens": t for k, t in tokens.items()}, **feeds)
        for kind in models:
            close(out[f"{kind}_log_probs"], expected[kind], kind)
            tokens[kind] = expected[kind].argmax(-1)
        for name in feeds:
            if f"{name}_out" in out:
                feeds[name] = torch.from_numpy(out[f"{name}_out"])


def test_forecaster_window_and_one_step_stream(tmp_path):
    model = Forecaster(
        2, num_covariates=1, horizon=3, hidden_size=6, cell="minlstm",
        decoder="autoregressive", likelihood="gaussian",
    ).eval()  # fmt: skip
    graphs = sessions(model, tmp_path)
    history, covariates = torch.randn(3, 10, 2), torch.randn(3, 13, 1)
    with torch.no_grad():
        forecast = model(history, covariates)
    out = run(graphs["model"], history=history, covariates=covariates)
    close(out["mean"], forecast.mean)
    close(out["scale"], forecast.scale)

    inputs = torch.randn(3, 8, 3)
    with torch.no_grad():
        whole, _ = model.one_step(inputs)
    feeds = state_feeds(model.rnn.initial_state(3))
    means = []
    for chunk in inputs.split(3, dim=1):  # chunks of 3, 3 and 2 steps
        out = run(graphs["one_step"], inputs=chunk, **feeds)
        means.append(out["mean"])
        feeds = {"h_in": torch.from_numpy(out["h_out"])}
    close(np.concatenate(means, axis=1), whole.mean)


def test_forecast_defaults_window_normalisation_seasonal_residual_and_ensemble(tmp_path):
    # what `rnnkit train forecast` builds by default: a 2-net ensemble, each normalising its
    # window and learning the residual over seasonal naive (season 4)
    model = Forecaster(1, 1, horizon=6, hidden_size=5, relative=True, normalise="window",
                       season=4, members=2).eval()  # fmt: skip
    graphs = sessions(model, tmp_path)
    assert set(graphs) == {"model"}
    for length in (9, 20):  # the time axis stays symbolic
        history = torch.randn(3, length, 1) * 10 + 50
        covariates = torch.randn(3, length + 6, 1)
        with torch.no_grad():
            expected = model(history, covariates).mean
        out = run(graphs["model"], history=history, covariates=covariates)
        close(out["mean"], expected)


def test_forecast_defaults_without_covariates(tmp_path):
    # a single-column series: the graph takes the history alone (no ``*covariates`` tuple for
    # torch.export), at the defaults of `rnnkit train forecast`
    model = Forecaster(1, 0, horizon=6, hidden_size=5, relative=True, normalise="window",
                       season=4, members=2).eval()  # fmt: skip
    session = sessions(model, tmp_path)["model"]
    assert [i.name for i in session.get_inputs()] == ["history"]
    assert session.get_inputs()[0].shape == ["batch", "time", 1]
    for length in (9, 20):
        history = torch.randn(3, length, 1) * 10 + 50
        with torch.no_grad():
            expected = model(history).mean
        close(run(session, history=history)["mean"], expected)


def test_autoencoder_reconstruction(tmp_path):
    model = SequenceAutoencoder(3, 2, hidden_size=5, cell="rnn_relu").eval()
    windows = torch.randn(4, 11, 3)
    out = run(sessions(model, tmp_path)["model"], windows=windows)
    with torch.no_grad():
        close(out["reconstruction"], model(windows))


def test_speech_recognizer_on_a_padded_batch_and_streamed(tmp_path):
    model = CTCRecognizer(
        4, 6, hidden_size=5, num_layers=2, cell="ln_gru", bidirectional=False, subsample=2
    ).eval()
    graphs = sessions(model, tmp_path)
    features = torch.randn(3, 11, 4)  # an odd number of frames: the last stack is padded
    lengths = torch.tensor([11, 6, 9])
    with torch.no_grad():
        log_probs, out_lengths = model(features, lengths)
    out = run(graphs["model"], features=features, lengths=lengths)
    np.testing.assert_array_equal(out["out_lengths"], out_lengths.numpy())
    for row, length in enumerate(out_lengths.tolist()):  # past a row's length is meaningless
        close(out["log_probs"][row, :length], log_probs[row, :length])
    # the graph needs more frames than one stack: a single frame goes in padded, with its length
    padded = torch.cat([features[:1, :1], torch.zeros(1, 2, 4)], dim=1)
    short = run(graphs["model"], features=padded, lengths=torch.tensor([1]))
    with torch.no_grad():
        close(short["log_probs"][:, :1], model(features[:1, :1])[0])

    # streamed in chunks of whole stacks, the state carried: the utterance read at once
    utterance = features[:2, :10]
    with torch.no_grad():
        whole, _ = model(utterance)
    feeds, pieces = {"h_in": model.rnn.initial_state(2)}, []
    for chunk in utterance.split([4, 6], dim=1):
        out = run(graphs["stream"], features=chunk, **feeds)
        pieces.append(out["log_probs"])
        feeds = {"h_in": torch.from_numpy(out["h_out"])}
    close(np.concatenate(pieces, axis=1), whole)


def test_piano_roll_logits_whole_and_in_two_chunks(tmp_path):
    model = PianoRollModel(keys=8, hidden_size=6, cell="mingru", head="nade", nade_hidden=5)
    model.eval()
    session = sessions(model, tmp_path)["model"]
    rolls = (torch.rand(2, 9, 8) < 0.3).float()
    silence = torch.zeros(2, 8)
    with torch.no_grad():
        logits = model.key_logits(rolls)
    start = {"h_in": model.rnn.initial_state(2)}
    whole = run(session, rolls=rolls, previous=silence, **start)
    close(whole["key_logits"], logits)
    first = run(session, rolls=rolls[:, :4], previous=silence, **start)
    rest = run(
        session, rolls=rolls[:, 4:], previous=rolls[:, 3], h_in=torch.from_numpy(first["h_out"])
    )
    close(np.concatenate([first["key_logits"], rest["key_logits"]], axis=1), logits)


def test_video_predictor_streams_and_clip_classifier_on_a_padded_batch(tmp_path):
    """A ConvLSTM predictor's encoder and step graphs, a ConvGRU predictor's step graph and a clip
    classifier's graph, two to an export (a dynamo export takes seconds), at a batch of 4 where
    the example's is 3. The encoder runs on the context in two chunks, the state carried; the
    steps feed each predicted frame back, as ``FramePredictor.forward`` does without future
    frames. (An encoder and its own forecaster's step in one export read wrong states: they go
    to separate files, as ``rnnkit export`` writes them.)"""
    size, batch = 8, 4
    lstm, gru = (
        FramePredictor(1, (size, size), patch=2, hidden_size=3, num_layers=2, kernel_size=3,
                       cell=cell).eval()
        for cell in ("conv_lstm", "conv_gru")
    )  # fmt: skip
    classifier = ClipClassifier(3, 1, encoder_channels=(4, 8), features=6, hidden_size=5).eval()
    lstm_graphs = {g.name: g for g in model_graphs(lstm)}
    exports = {
        "first": {"encoder": lstm_graphs["model"],
                  "clip": model_graphs(classifier, frame_shape=(1, 12, 12))[0]},
        "second": {"step": lstm_graphs["step"],
                   "gru_step": {g.name: g for g in model_graphs(gru)}["step"]},
    }  # fmt: skip
    sessions = {}
    for name, graphs in exports.items():
        together = bundle(graphs)
        for key, axes in together.axes.items():  # each graph its own time axis, one batch
            together.axes[key] = {a: f"{key}_{d}" if d == "time" else d for a, d in axes.items()}
        path = write_onnx(together, tmp_path / f"{name}.onnx")
        sessions[name] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = {i.name: i.shape for s in sessions.values() for i in s.get_inputs()}
    assert inputs["encoder_context"][:2] == ["batch", "encoder_context_time"], inputs
    assert inputs["step_previous"][0] == "batch" and inputs["step_h_in"][1] == "batch", inputs

    context = torch.rand(batch, 5, 1, size, size)
    frames = torch.rand(batch, 6, 1, 12, 12)
    lengths = torch.tensor([6, 2, 4, 1])
    with torch.no_grad():
        expected_lstm = lstm(context, steps=3)
        expected_gru = gru(context, steps=3)
        expected_logits = classifier(frames, lengths)
        _, gru_state = gru.encoder(gru.to_grid(context))

    def outputs(which: str, **named: torch.Tensor) -> dict[str, np.ndarray]:
        """Run one export on the tensors named; the other graph's inputs get ones of length 1
        (its outputs are not read)."""
        session = sessions[which]
        feeds = {k: v.numpy() for k, v in named.items()}
        for i in session.get_inputs():
            if i.name not in feeds:
                shape = [batch if d == "batch" else 1 if isinstance(d, str) else d for d in i.shape]
                feeds[i.name] = np.ones(shape, np.int64 if "int64" in i.type else np.float32)
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(names, feeds), strict=True))

    zeros = lstm.encoder.initial_state(batch)
    state = {"h": zeros[0], "c": zeros[1]}
    for chunk in (context[:, :2], context[:, 2:]):
        out = outputs("first", encoder_context=chunk, encoder_h_in=state["h"],
                      encoder_c_in=state["c"])  # fmt: skip
        state = {k: torch.from_numpy(out[f"encoder_{k}_out"]) for k in ("h", "c")}
    previous, gru_previous, gru_h = context[:, -1], context[:, -1], gru_state
    predicted, predicted_gru = [], []
    for _ in range(3):
        out = outputs("second", step_previous=previous, step_h_in=state["h"],
                      step_c_in=state["c"], gru_step_previous=gru_previous,
                      gru_step_h_in=gru_h)  # fmt: skip
        predicted.append(out["step_frame"])
        predicted_gru.append(out["gru_step_frame"])
        previous, gru_previous = (
            torch.from_numpy(out[k]) for k in ("step_frame", "gru_step_frame")
        )
        state = {k: torch.from_numpy(out[f"step_{k}_out"]) for k in ("h", "c")}
        gru_h = torch.from_numpy(out["gru_step_h_out"])
    close(np.stack(predicted, 1), expected_lstm, "conv_lstm predictor")
    close(np.stack(predicted_gru, 1), expected_gru, "conv_gru predictor")
    clip = outputs("first", clip_frames=frames, clip_lengths=lengths)["clip_logits"]
    close(clip, expected_logits, "clip classifier")
