"""Models for the four input/output shapes, built only from ``rnnkit.layers``."""

from rnnkit.models.attention_decoder import AttentionDecoder
from rnnkit.models.autoencoder import SequenceAutoencoder
from rnnkit.models.captioner import Captioner
from rnnkit.models.classifier import SequenceClassifier
from rnnkit.models.forecaster import Forecaster
from rnnkit.models.generator import ConditionalGenerator
from rnnkit.models.image_classifier import ImageClassifier
from rnnkit.models.image_encoder import ImageEncoder
from rnnkit.models.language_model import LanguageModel
from rnnkit.models.music import PianoRollModel
from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.models.speech import CTCRecognizer
from rnnkit.models.tagger import SequenceTagger

__all__ = [
    "AttentionDecoder",
    "CTCRecognizer",
    "Captioner",
    "ConditionalGenerator",
    "Forecaster",
    "ImageClassifier",
    "ImageEncoder",
    "LanguageModel",
    "PianoRollModel",
    "Seq2Seq",
    "SequenceAutoencoder",
    "SequenceClassifier",
    "SequenceTagger",
]
