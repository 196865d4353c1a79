"""Joda-Time patterns (``path.format``) rendered in Python, as the TimeBasedPartitioner needs.

Users paste ``'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH`` from Confluent configurations, so the
pattern language is Joda's: letters are fields, ``'...'`` is literal text, ``''`` is a quote.
A pattern is compiled once; an unknown letter or an unterminated quote is a configuration error.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import datetime

Piece = Callable[[datetime], str]
_MONTHS = list(calendar.month_name)
_DAYS = list(calendar.day_name)


def _num(get: Callable[[datetime], int], width: int) -> Piece:
    return lambda d: str(get(d)).zfill(width)


def _field(letter: str, count: int) -> Piece:
    if letter in "yYu":
        if count == 2:
            return lambda d: str(d.year % 100).zfill(2)
        return _num(lambda d: d.year, count)
    if letter == "M":
        if count >= 4:
            return lambda d: _MONTHS[d.month]
        if count == 3:
            return lambda d: _MONTHS[d.month][:3]
        return _num(lambda d: d.month, count)
    simple: dict[str, Callable[[datetime], int]] = {
        "d": lambda d: d.day, "H": lambda d: d.hour, "m": lambda d: d.minute,
        "s": lambda d: d.second, "D": lambda d: d.timetuple().tm_yday,
        "h": lambda d: (d.hour % 12) or 12, "k": lambda d: d.hour or 24,
        "K": lambda d: d.hour % 12, "w": lambda d: d.isocalendar()[1],
        "e": lambda d: d.isoweekday(), "C": lambda d: d.year // 100,
    }
    if letter in simple:
        return _num(simple[letter], count)
    if letter == "S":
        return lambda d: str(d.microsecond // 1000).zfill(3)[:count].ljust(count, "0")
    if letter == "E":
        return (lambda d: _DAYS[d.weekday()]) if count >= 4 else (lambda d: _DAYS[d.weekday()][:3])
    if letter == "a":
        return lambda d: "AM" if d.hour < 12 else "PM"
    if letter == "Z":
        return lambda d: d.strftime("%z")
    if letter == "G":
        return lambda d: "AD"
    raise ValueError(f"Illegal pattern component: {letter * count}")


def _literal(text: str) -> Piece:
    return lambda _d: text


def compile_pattern(pattern: str) -> Callable[[datetime], str]:
    """Compile a Joda pattern to a function; raises ``ValueError`` naming the bad component."""
    pieces: list[Piece] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            j = i + 1
            text = []
            while True:
                if j >= n:
                    raise ValueError(f"Unterminated quote in pattern at position {i}")
                if pattern[j] == "'":
                    if j + 1 < n and pattern[j + 1] == "'":
                        text.append("'")
                        j += 2
                        continue
                    break
                text.append(pattern[j])
                j += 1
            literal = "'" if j == i + 1 else "".join(text)
            pieces.append(_literal(literal))
            i = j + 1
        elif c.isascii() and c.isalpha():
            j = i
            while j < n and pattern[j] == c:
                j += 1
            pieces.append(_field(c, j - i))
            i = j
        else:
            pieces.append(_literal(c))
            i += 1
    return lambda d: "".join(p(d) for p in pieces)
