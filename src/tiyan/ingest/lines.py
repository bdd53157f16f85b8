"""Physical lines of text sources: where each one went.

A text source (CSV, TSV, JSON Lines, each possibly gzipped) is accounted for line by line:
every physical line is part of an accepted record, or quarantined as ``malformed_line`` with
its number and raw text (a blank line outside a quoted value is no record). This module
holds the parts that look at bytes rather than at parsed rows:

* :func:`scan_text` reads a file once (decompressing it) and counts its lines and quote
  characters, refusing a truncated or corrupt gzip stream with where it broke;
* :func:`split_csv` is the exact CSV reader the loader falls back on when DuckDB's
  ``read_csv`` did not account for every line (an unterminated quote, a record spanning
  lines, a blank line): RFC 4180 records, and a record that does not parse is its *first
  line only* — reading resumes on the next line, so one stray quote never swallows the rest
  of the file;
* :func:`text_lines` gives every line of a JSON Lines file, undecodable ones apart.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tiyan.domain.errors import SourceError

_CHUNK = 1 << 24
#: Compressed bytes inflated at a time: small enough that an error says where it is.
_PACKED_CHUNK = 1 << 16
#: Shown instead of a NUL in quarantined raw text (PostgreSQL text cannot hold U+0000).
NUL_SHOWN = "\ufffd"


def is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


@dataclass(frozen=True)
class TextScan:
    """What one pass over a text file's bytes found."""

    lines: int  # physical lines (a last line without a line break counts)
    quotes: int  # '"' bytes
    nuls: int  # NUL bytes
    size: int  # bytes after decompression


def _chunks(path: Path) -> Iterator[bytes]:
    """The file's bytes (decompressed), refusing a gzip stream that is cut or corrupt."""
    with path.open("rb") as fh:
        if not is_gzip(path):
            while block := fh.read(_CHUNK):
                yield block
            return
        inflate = zlib.decompressobj(wbits=31)  # gzip header and CRC checked
        packed = out = lines = 0
        pending = b""
        while True:
            block = pending or fh.read(_PACKED_CHUNK)
            pending = b""
            if not block:
                break
            try:
                data = inflate.decompress(block)
            except zlib.error as exc:
                raise SourceError(
                    f"corrupt gzip data, found between compressed bytes {packed:,} and "
                    f"{packed + len(block):,} (after {out:,} uncompressed bytes, in line "
                    f"{lines + 1:,}): {exc}; nothing was loaded",
                    path=str(path),
                ) from None
            if inflate.eof and inflate.unused_data:  # another gzip member follows
                pending = inflate.unused_data
                packed += len(block) - len(pending)
                inflate = zlib.decompressobj(wbits=31)
            else:
                packed += len(block)
            out += len(data)
            lines += data.count(b"\n")
            if data:
                yield data
        if not inflate.eof:
            raise SourceError(
                f"gzip file is truncated: its {packed:,} compressed bytes end in the middle "
                f"of the stream, after {out:,} uncompressed bytes (in line {lines + 1:,}); "
                "nothing was loaded — copy or download the file again",
                path=str(path),
            )


def scan_text(path: Path) -> TextScan:
    """Count the lines and quotes of ``path``; a broken gzip file is a :class:`SourceError`."""
    lines = quotes = nuls = size = 0
    last = b"\n"
    for block in _chunks(path):
        lines += block.count(b"\n")
        quotes += block.count(b'"')
        nuls += block.count(b"\x00")
        size += len(block)
        last = block[-1:]
    lines += 0 if last == b"\n" else 1
    return TextScan(lines=lines, quotes=quotes, nuls=nuls, size=size)


def read_bytes(path: Path) -> bytes:
    """The whole (decompressed) content of ``path``."""
    return b"".join(_chunks(path))


def _physical(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the line break ending the last line starts no line
    return lines


def _undecodable(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte 0x{raw[exc.start]:02X} at byte {exc.start + 1} of the line)"
    return ""


def shown(raw: bytes | str) -> str:
    """A line as quarantined: decoded with replacement characters, no NUL, no line break."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text.rstrip("\r\n").replace("\x00", NUL_SHOWN)


@dataclass
class Malformed:
    """Lines that are no record: ``(line, message, raw text)``; ``encoding`` counts those
    that are not UTF-8."""

    rows: list[tuple[int, str, str]] = field(default_factory=list)
    encoding: int = 0

    def add(self, line: int, message: str, raw: bytes | str, *, encoding: bool = False) -> None:
        self.rows.append((line, message, shown(raw)))
        self.encoding += encoding


@dataclass
class SplitCSV:
    """The records of a CSV file: one list of values per column (``None`` for empty), the
    physical line each record starts on, and the malformed lines."""

    columns: list[list[str | None]]
    lines: list[int]
    malformed: Malformed


def header_of(path: Path, delimiter: str) -> list[str]:
    """The column names of a CSV file's first line (the dialect is tiyan's, not guessed)."""
    first = b""
    for block in _chunks(path):
        first += block
        if b"\n" in first:
            break
    line = first.split(b"\n", 1)[0]
    try:
        text = line.decode("utf-8-sig").rstrip("\r")
    except UnicodeDecodeError:
        raise SourceError(
            "the header line is not valid UTF-8; convert the file to UTF-8 first, e.g. "
            "`iconv -f GBK -t UTF-8`",
            path=str(path),
        ) from None
    try:
        names = next(csv.reader([text], delimiter=delimiter, strict=True), [])
    except csv.Error as exc:
        raise SourceError(f"cannot read the header line: {exc}", path=str(path)) from None
    names = [n.strip() for n in names]
    if not any(names):
        raise SourceError("the first line must name the columns", path=str(path))
    for i, name in enumerate(names):
        if not name:
            raise SourceError(f"column {i + 1} of the header has no name", path=str(path))
        if name in names[:i]:
            raise SourceError(f"column {name!r} appears twice in the header", path=str(path))
    return names


def split_csv(data: bytes, delimiter: str, width: int) -> SplitCSV:
    """Split CSV ``data`` (header first) into records of ``width`` fields, line by line."""
    phys = _physical(data)
    columns: list[list[str | None]] = [[] for _ in range(width)]
    starts: list[int] = []
    bad = Malformed()
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(data) + 1))  # a value may be as long as the file
    try:
        i = 1  # 0-based index of the first line after the header
        while i < len(phys):
            raw = phys[i]
            if b'"' not in raw:  # the usual line: no quoting, so a split is the parse
                problem = _undecodable(raw)
                if problem:
                    bad.add(i + 1, f"line {i + 1} is {problem}", raw, encoding=True)
                    i += 1
                    continue
                text = raw.decode("utf-8")
                if text.endswith("\r"):
                    text = text[:-1]
                if not text:
                    i += 1  # a blank line is no record
                    continue
                fields: list[str] = text.split(delimiter)
                used = 1
            else:
                fields, used, problem = _quoted_record(phys, i, delimiter)
                if problem:
                    bad.add(i + 1, f"line {i + 1} cannot be parsed: {problem}", raw)
                    i += 1
                    continue
            if len(fields) != width:
                bad.add(
                    i + 1,
                    f"line {i + 1} has {len(fields)} fields, the header {width}",
                    raw,
                )
                i += 1  # a record spanning lines that does not fit is its first line only
                continue
            for values, value in zip(columns, fields, strict=True):
                values.append(value or None)
            starts.append(i + 1)
            i += used
    finally:
        csv.field_size_limit(limit)
    return SplitCSV(columns=columns, lines=starts, malformed=bad)


def _quoted_record(phys: list[bytes], start: int, delimiter: str) -> tuple[list[str], int, str]:
    """Parse the record starting at ``phys[start]``: its fields, how many lines it spans,
    or the reason it does not parse."""

    def feed() -> Iterator[str]:
        for raw in phys[start:]:
            try:
                yield raw.decode("utf-8") + "\n"
            except UnicodeDecodeError:
                return  # an undecodable line ends any record that would run into it

    if _undecodable(phys[start]):
        return [], 1, _undecodable(phys[start])
    reader = csv.reader(feed(), delimiter=delimiter, quotechar='"', strict=True)
    try:
        fields = next(reader)
    except csv.Error as exc:
        if "end of data" in str(exc) or "EOF" in str(exc):
            return [], 1, "a quoted value opened on this line is never closed"
        return [], 1, str(exc)
    except StopIteration:
        return [], 1, "no record"
    return fields, reader.line_num, ""


def text_lines(data: bytes) -> tuple[list[int], list[str], Malformed]:
    """Every non-blank line of ``data`` (numbered from 1) that is valid UTF-8, and the ones
    that are not."""
    numbers: list[int] = []
    texts: list[str] = []
    bad = Malformed()
    for n, raw in enumerate(_physical(data), start=1):
        problem = _undecodable(raw)
        if problem:
            bad.add(n, f"line {n} is {problem}", raw, encoding=True)
            continue
        text = raw.decode("utf-8").rstrip("\r")
        if text.strip():
            numbers.append(n)
            texts.append(text)
    return numbers, texts, bad
