"""Read a local data file once, line by line, before ``datasets`` sees it, so that a bad file fails with its name and
line instead of a pyarrow/pandas traceback: empty files, bytes that are not UTF-8 (line and byte offset), malformed
JSON lines (line, column and the JSON error), records that are not objects, CSV rows with the wrong number of fields.

One streaming pass (two for CSV: bytes, then fields), O(file size) time and O(longest line) memory; a ``.json``
file holding one JSON document (an array of records) is parsed whole, as ``datasets`` will parse it anyway.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

__all__ = ["DataFileError", "check_data_file"]


class DataFileError(ValueError):
    """A data file that cannot be read as training data; the message names the file and the line."""


def _lines(path: str) -> Iterator[tuple[int, int, str]]:
    """``(line number, byte offset of the line, decoded line)`` for every line, failing on the first non-UTF-8 byte."""
    offset = 0
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataFileError(
                    f"{path}:{number}: not UTF-8: byte 0x{raw[exc.start]:02x} at byte offset {offset + exc.start} "
                    f"(column {exc.start + 1} of the line) is {exc.reason}; re-save the file as UTF-8"
                ) from None
            yield number, offset, text
            offset += len(raw)


def _kind(value) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def _check_json_lines(path: str, first: tuple[int, str], rest: Iterator[tuple[int, int, str]]) -> int:
    records = 0
    for number, text in _chain(first, rest):
        if not text.strip():
            continue
        if number == 1:
            text = text.lstrip("\ufeff")  # a byte-order mark, which datasets' reader accepts
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{path}:{number}: malformed JSON line: {exc.msg} (column {exc.colno})") from None
        if not isinstance(value, dict):
            raise DataFileError(f"{path}:{number}: expected one JSON object per line, got {_kind(value)}")
        records += 1
    return records


def _chain(first: tuple[int, str], rest: Iterator[tuple[int, int, str]]) -> Iterator[tuple[int, str]]:
    yield first
    for number, _, text in rest:
        yield number, text


def _check_json_document(path: str) -> int:
    with open(path, encoding="utf-8-sig") as f:
        try:
            value = json.load(f)
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg} (column {exc.colno})") from None
    if isinstance(value, list):
        for i, record in enumerate(value):
            if not isinstance(record, dict):
                raise DataFileError(f"{path}: record {i} of the JSON array is {_kind(record)}, expected an object")
        return len(value)
    return 1


def _check_csv(path: str, delimiter: str) -> int:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        header, rows = None, 0
        try:
            for row in reader:
                if not row:
                    continue
                if header is None:
                    header = row
                    continue
                if len(row) != len(header):
                    raise DataFileError(
                        f"{path}:{reader.line_num}: {len(row)} fields, but the header has {len(header)} ({header})"
                    )
                rows += 1
        except csv.Error as exc:
            raise DataFileError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from None
    return rows


def check_data_file(path: str, builder: str) -> None:
    """Raise :class:`DataFileError` naming ``path`` (and the line) unless the file can be read by the ``datasets``
    builder ``builder`` (``"text"``, ``"json"`` or ``"csv"``) and holds at least one record."""
    lines = _lines(path)
    first = None
    for number, _, text in lines:  # up to the first non-blank line (also checks the UTF-8 of the skipped ones)
        if text.strip():
            first = (number, text)
            break
    if first is None:
        raise DataFileError(f"{path}: the file is empty (no non-blank line)")
    if builder == "json":
        if first[1].lstrip("\ufeff \t").startswith("["):
            for _ in lines:  # the UTF-8 check of the rest, with line numbers
                pass
            records = _check_json_document(path)
        else:
            try:
                records = _check_json_lines(path, first, lines)
            except DataFileError:
                # one pretty-printed JSON object over several lines is a document, not JSON lines
                if not path.endswith(".json") or _json_document_or_none(path) is None:
                    raise
                records = 1
        if records == 0:
            raise DataFileError(f"{path}: the file holds no JSON records")
    else:
        for _ in lines:
            pass
        if builder == "csv":
            if _check_csv(path, "\t" if path.lower().endswith(".tsv") else ",") == 0:
                raise DataFileError(f"{path}: the file holds a header but no rows")


def _json_document_or_none(path: str):
    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
