"""Sentence splitting for speaking a text as it streams: each sentence is synthesized, and can
be played, while the next is still being written or synthesized.

The pieces always join back to the whole text (only the whitespace between sentences is
dropped), so nothing the model wrote goes unspoken.
"""

from __future__ import annotations

import re

# words after which a period does not end a sentence ("Dr. Smith", "e.g. this")
ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt vs etc e.g i.e cf al fig no vol approx dept est inc ltd co corp
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun u.s u.k a.m p.m""".split()  # noqa: SIM905
)

# a sentence end: . ! ? or … (possibly repeated, possibly followed by closing quotes or
# brackets) and then whitespace; or a line break that starts a new paragraph or list item
_END = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s)|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)""")


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    mark = match.group()
    if not mark.startswith("."):
        return True
    before = text[: match.start()]
    word = re.search(r"([A-Za-z][A-Za-z.]*)$", before)
    if word is None:
        # "3." numbering a list item (at a line start or after a sentence) is not a sentence end
        return not re.search(r"(?:^|\n|[.!?:]\s)\s*\d{1,2}$", before)
    token = word.group(1).lower()
    if token in ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
        return False  # "Dr." or an initial ("J. Smith")
    following = text[match.end() :].lstrip()
    return not following[:1].islower()  # "etc. and then" continues the sentence


def split_sentences(text: str) -> list[str]:
    """``text`` cut into sentences, in order, each stripped; empty pieces are dropped.

    Periods after abbreviations (Dr., e.g., U.S.), initials and inside numbers (3.14, v1.2)
    do not end a sentence; "!", "?", "…", blank lines and list items do.
    """
    sentences: list[str] = []
    start = 0
    for match in _END.finditer(text):
        if not _ends_sentence(text, match):
            continue
        piece = text[start : match.end()].strip()
        if piece:
            sentences.append(piece)
        start = match.end()
    rest = text[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


_CITATION_MARK = re.compile(r"\s*\[\d{1,3}\]")
_HTML_TAG = re.compile(r"<[^>]+>")
_MARKUP = re.compile(r"[*_`#>|~]+")


def speakable(text: str) -> str:
    """The words of an answer as they should be read aloud: no citation marks, HTML or
    Markdown symbols."""
    text = _CITATION_MARK.sub("", text)
    text = _HTML_TAG.sub(" ", text)
    text = _MARKUP.sub(" ", text)
    return re.sub(r"[ \t]+", " ", text).strip()


class SentenceFeed:
    """The sentences of a streaming answer that are ready to be spoken, each handed out once.

    ``ready(text)`` takes the whole text so far and returns, made speakable, the sentences
    finished since the last call; the last piece waits until more text follows it, or ``final``.
    ``restart()`` starts over, for an answer replaced by another.
    """

    def __init__(self) -> None:
        self._handed = 0  # sentences handed out

    def ready(self, text: str, *, final: bool = False) -> list[str]:
        sentences = split_sentences(speakable(text))
        finished = sentences if final else sentences[:-1]  # the last one may still be growing
        new = finished[self._handed :]
        self._handed = max(self._handed, len(finished))
        return new

    def restart(self) -> None:
        self._handed = 0
