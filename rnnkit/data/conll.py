"""CoNLL-style tagged text: one ``token<TAB>tag`` per line, a blank line between sentences.

Extra columns are allowed (CoNLL-2003 has part-of-speech and chunk columns): the token is the
first field and the tag the last. Fields are separated by tabs, or by spaces when a line has no
tab. Lines starting with ``-DOCSTART-`` (document markers of CoNLL-2003) are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rnnkit.data.readers import read_text
from rnnkit.errors import UserError


@dataclass
class TaggedSentence:
    """One sentence: its tokens and, when the file has them, one tag per token."""

    tokens: list[str]
    tags: list[str]


def read_conll(
    path: str | Path, *, encoding: str = "utf-8", require_tags: bool = True
) -> list[TaggedSentence]:
    """The sentences of a CoNLL file, in order.

    With ``require_tags=False`` a line holding a single field is a token without a tag (for
    prediction); ``tags`` is then empty for sentences without tags.
    Raises ``UserError`` naming the file and line for a line without a tag, or a file without
    any sentence.
    """
    path = Path(path)
    text = read_text(path, encoding)
    sentences: list[TaggedSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            if tokens:
                sentences.append(TaggedSentence(tokens, tags))
                tokens, tags = [], []
            continue
        if line.startswith("-DOCSTART-"):
            continue
        fields = line.rstrip("\r\n").split("\t") if "\t" in line else line.split()
        fields = [f.strip() for f in fields if f.strip()]
        if len(fields) < 2:
            if require_tags:
                raise UserError(
                    f"{path} line {number} has a token but no tag ({line.strip()!r}); write "
                    "'token<TAB>tag' on every line and a blank line between sentences."
                )
            tokens.append(fields[0])
            continue
        tags.append(fields[-1])
        tokens.append(fields[0])
    if tokens:
        sentences.append(TaggedSentence(tokens, tags))
    if not sentences:
        raise UserError(f"{path} holds no sentence; write one 'token<TAB>tag' per line.")
    for sentence in sentences:
        if sentence.tags and len(sentence.tags) != len(sentence.tokens):
            raise UserError(
                f"{path} mixes tagged and untagged lines in the sentence starting "
                f"{' '.join(sentence.tokens[:5])!r}; give every token a tag or none."
            )
    return sentences
