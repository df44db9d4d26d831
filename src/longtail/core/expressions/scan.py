"""Lexical checks before any parsing: what must never reach the SQL parser is refused here, with its position."""

from __future__ import annotations

import difflib
import unicodedata

from longtail.core.expressions.model import MAX_PARENS, Columns, ExpressionError


def scan(text: str, columns: Columns) -> None:  # noqa: PLR0912
    """Reject, before any parsing, what must never reach the parser: comments, `;`, control characters,
    backslashes, non-ASCII outside quotes (look-alike letters), unterminated quotes and deep parentheses."""
    for i, c in enumerate(text):
        if c == "\\":
            raise ExpressionError("backslashes are not allowed", text, i)
        if (unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in " \t\n\r") or c in "\x0b\x0c":
            raise ExpressionError(f"control character U+{ord(c):04X} is not allowed", text, i)
    depth, i, n = 0, 0, len(text)
    while i < n:
        c = text[i]
        if c in "'\"":
            j = i + 1
            while True:
                j = text.find(c, j)
                if j == -1:
                    what = "string" if c == "'" else "quoted name"
                    raise ExpressionError(f"unterminated {what}: {c} opened here is never closed", text, i)
                if j + 1 < n and text[j + 1] == c:
                    j += 2
                    continue
                break
            i = j + 1
            continue
        if text.startswith("--", i) or text.startswith("/*", i):
            raise ExpressionError("comments ('--', '/* */') are not allowed", text, i)
        if c == ";":
            raise ExpressionError("';' is not allowed: a condition is one expression, not statements", text, i)
        if c == "(":
            depth += 1
            if depth > MAX_PARENS:
                raise ExpressionError(f"parentheses are nested deeper than {MAX_PARENS} levels", text, i)
        elif c == ")":
            depth -= 1
        elif not c.isascii():
            raise ExpressionError(_non_ascii(text, i, columns), text, i)
        i += 1


def _non_ascii(text: str, i: int, columns: Columns) -> str:
    c = text[i]
    problem = f"non-ASCII character {c!r} (U+{ord(c):04X} {unicodedata.name(c, 'unnamed')}) outside quotes"
    start, end = i, i
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    word = text[start:end]
    ascii_word = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()
    matches = difflib.get_close_matches(ascii_word.lower() or word, list(columns), n=1, cutoff=0.6)
    return problem + (f" in {word!r}; did you mean {matches[0]!r}?" if matches else "")
