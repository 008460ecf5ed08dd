"""JSON mode: decoding constrained so that an answer is always one valid JSON object.

A small pushdown automaton checks, character by character, that a text is a prefix of a
JSON object (RFC 8259). At each step the decoder keeps only the most likely tokens whose
text leaves the answer such a prefix; once the object is closed, only end-of-sequence
may follow.
"""

from __future__ import annotations

from dataclasses import dataclass

WHITESPACE = " \t\n\r"
_NUMBER_END_OK = {"zero", "int", "frac", "exp"}
_LITERALS = {"t": "rue", "f": "alse", "n": "ull"}
_HEX = set("0123456789abcdefABCDEF")


@dataclass(frozen=True)
class JsonState:
    """Where a JSON-object prefix stands. Immutable, so candidates are checked cheaply."""

    stack: tuple[str, ...] = ()  # open containers: "o" object, "a" array
    mode: str = "start"
    aux: str = ""  # string escape state, number state, or the rest of a literal
    key: bool = False  # the open string is an object key

    @property
    def complete(self) -> bool:
        return self.mode == "done"


def _after_value(state: JsonState) -> JsonState:
    mode = "after_value" if state.stack else "done"
    return JsonState(state.stack, mode)


def _start_value(state: JsonState, ch: str) -> JsonState | None:
    """A value begins with ``ch`` (in any position where a value is expected)."""
    if ch == "{":
        return JsonState((*state.stack, "o"), "key_or_close")
    if ch == "[":
        return JsonState((*state.stack, "a"), "value_or_close")
    if ch == '"':
        return JsonState(state.stack, "string", "")
    if ch == "-":
        return JsonState(state.stack, "number", "minus")
    if ch == "0":
        return JsonState(state.stack, "number", "zero")
    if ch.isdigit() and ch.isascii():
        return JsonState(state.stack, "number", "int")
    if ch in _LITERALS:
        return JsonState(state.stack, "literal", _LITERALS[ch])
    return None


def _close(state: JsonState, ch: str) -> JsonState | None:
    if state.stack and ((ch == "}" and state.stack[-1] == "o") or (ch == "]" and state.stack[-1] == "a")):
        return _after_value(JsonState(state.stack[:-1], "after_value"))
    return None


def _string(state: JsonState, ch: str) -> JsonState | None:
    escape = state.aux
    if escape == "":
        if ch == '"':
            return JsonState(state.stack, "colon") if state.key else _after_value(state)
        if ch == "\\":
            return JsonState(state.stack, "string", "\\", state.key)
        return state if ch >= " " else None
    if escape == "\\":
        if ch == "u":
            return JsonState(state.stack, "string", "u", state.key)
        return JsonState(state.stack, "string", "", state.key) if ch in '"\\/bfnrt' else None
    if ch not in _HEX:  # inside \uXXXX
        return None
    rest = "" if len(escape) == 4 else escape + "x"
    return JsonState(state.stack, "string", rest, state.key)


_NUMBER_STEPS = {
    "minus": {"0": "zero", "d": "int"},
    "zero": {".": "dot", "e": "e"},
    "int": {"d": "int", ".": "dot", "e": "e"},
    "dot": {"d": "frac"},
    "frac": {"d": "frac", "e": "e"},
    "e": {"+": "esign", "-": "esign", "d": "exp"},
    "esign": {"d": "exp"},
    "exp": {"d": "exp"},
}


def _number(state: JsonState, ch: str) -> JsonState | None:
    kind = "d" if (ch.isdigit() and ch.isascii() and not (ch == "0" and state.aux == "minus")) else ch
    kind = "e" if ch in "eE" else kind
    nxt = _NUMBER_STEPS[state.aux].get(kind)
    if nxt is not None:
        return JsonState(state.stack, "number", nxt)
    if state.aux not in _NUMBER_END_OK:
        return None
    return step(_after_value(state), ch)  # the number ended; ``ch`` belongs to what follows


def step(state: JsonState, ch: str) -> JsonState | None:
    """The state after ``ch``, or None when ``ch`` cannot continue a JSON object."""
    mode = state.mode
    if mode == "string":
        return _string(state, ch)
    if mode == "number":
        return _number(state, ch)
    if mode == "literal":
        if ch != state.aux[0]:
            return None
        return JsonState(state.stack, "literal", state.aux[1:]) if len(state.aux) > 1 else _after_value(state)
    if ch in WHITESPACE:
        return state
    if mode == "start":
        return JsonState(("o",), "key_or_close") if ch == "{" else None
    if mode in ("key_or_close", "key"):
        if ch == '"':
            return JsonState(state.stack, "string", "", key=True)
        return _close(state, ch) if mode == "key_or_close" else None
    if mode == "colon":
        return JsonState(state.stack, "value") if ch == ":" else None
    if mode == "value":
        return _start_value(state, ch)
    if mode == "value_or_close":
        return _close(state, ch) or _start_value(state, ch)
    if mode == "after_value":
        if ch == ",":
            return JsonState(state.stack, "key" if state.stack[-1] == "o" else "value")
        return _close(state, ch)
    return None  # done: nothing but whitespace may follow


_NUMBER_COMPLETION = {"minus": "0", "dot": "0", "e": "0", "esign": "0"}


def closing_text(state: JsonState) -> str:
    """The shortest text that turns this prefix into a complete JSON object."""
    mode, text = state.mode, ""
    if mode == "string":
        if state.aux == "\\":  # after a backslash: finish the escape as \"
            text = '"'
        elif state.aux.startswith("u"):  # inside \uXXXX: the missing hex digits
            text = "0" * (5 - len(state.aux))
        text += '"' + (": null" if state.key else "")
    elif mode == "number":
        text = _NUMBER_COMPLETION.get(state.aux, "")
    elif mode == "literal":
        text = state.aux
    elif mode in ("colon", "value", "key"):
        text = {"colon": ": null", "value": "null", "key": '"": null'}[mode]
    closers = "".join("}" if kind == "o" else "]" for kind in reversed(state.stack))
    return "{}" if mode == "start" else text + closers


def feed(state: JsonState, text: str) -> JsonState | None:
    """The state after ``text``, or None when ``text`` breaks the JSON object."""
    for ch in text:
        state = step(state, ch)
        if state is None:
            return None
    return state


class JsonConstraint:
    """Per-sample JSON mode: which candidate tokens may come next."""

    MAX_WHITESPACE_TOKENS = 2  # in a row, outside strings: stops endless blank runs

    def __init__(self) -> None:
        self.state = JsonState()
        self.blank_run = 0
        self.closing_only = False  # set when the token budget only leaves room to close

    @property
    def complete(self) -> bool:
        return self.state.complete

    def allows(self, token_text: str, budget: int | None = None) -> bool:
        """Whether the token may come next; with ``budget`` (tokens left after it), only if
        the object can still be closed in time (one token per closing character, at most)."""
        if not token_text:
            return False
        blank = token_text.strip(WHITESPACE) == "" and self.state.mode != "string"
        if blank and self.blank_run >= self.MAX_WHITESPACE_TOKENS:
            return False
        after = feed(self.state, token_text)
        return after is not None and (budget is None or len(closing_text(after)) <= budget)

    def closing(self) -> str:
        return closing_text(self.state)

    def allows_closing(self, token_text: str) -> bool:
        """Whether the token writes the next part of the shortest closing text."""
        piece = token_text.strip(WHITESPACE) if self.state.mode != "string" else token_text
        return bool(piece) and self.closing().startswith(piece) and feed(self.state, token_text) is not None

    def advance(self, token_text: str) -> None:
        blank = token_text.strip(WHITESPACE) == "" and self.state.mode != "string"
        self.blank_run = self.blank_run + 1 if blank else 0
        self.state = feed(self.state, token_text) or self.state
