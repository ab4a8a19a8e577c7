"""Read a local data file once, line by line, before ``datasets`` sees it, so that a bad file fails with its name and
line instead of a pyarrow/pandas traceback: empty files, bytes that are not UTF-8 (line and byte offset), malformed
JSON lines (line, column and the JSON error), records that are not objects, CSV rows with the wrong number of fields.

With ``columns`` (:class:`Column`, what a task reads from every record) the values are checked in the same pass, so a
row that would train on something else than it says fails naming the file, the line and the column: a null label
(which would become a class ``"None"``), a missing or empty target (an empty string to learn), a text that is a
number, a list of tags of another length than its words.  A column absent from *every* record is left to the caller,
which names the columns the file has.

One streaming pass (two for CSV: bytes, then fields), O(file size) time and O(longest line) memory; a ``.json``
file holding one JSON document (an array of records) is parsed whole, as ``datasets`` will parse it anyway (with
``columns``, a second time record by record, to know the line each record starts on).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

__all__ = ["Column", "DataFileError", "check_data_file"]


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
    return {list: "an array", dict: "an object", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def _shown(value) -> str:
    """What a JSON value is, with the value itself when it is short (``a number (123)``)."""
    if isinstance(value, (list, dict)) or value is None:
        return _kind(value)
    text = json.dumps(value, ensure_ascii=False)
    return f"{_kind(value)} ({text if len(text) <= 40 else text[:37] + '...'})"


# ------------------------------------------------------------------------------------------------ columns
#: What a column's value must be, as messages say it (``Column.kind`` → the phrase).
KINDS = {
    "text": "a non-empty string",
    "label": "a label (an integer or a non-empty string)",
    "words": "a non-empty array of words (non-empty strings)",
    "tags": "an array of tags (integers or non-empty strings)",
    "sentences": "an array of sentences (strings)",
}


@dataclass(frozen=True)
class Column:
    """A value every record of a data file must hold for a task to read it, and what it must be.

    ``kind``: ``"text"`` a string (not blank, unless ``allow_empty``: a blank document is skipped, not trained on);
    ``"label"`` a class label, an integer or a non-empty string, one of the two in a whole file; ``"words"`` a
    non-empty array of non-empty strings; ``"tags"`` an array of class labels, as many as the array of the column
    ``same_length_as``; ``"sentences"`` an array of strings.  ``key``: the value is ``record[name][key]`` (the
    Hub's ``{"translation": {"ko": ..., "en": ...}}``).  ``optional``: the column may be null or absent, but then in
    every record of the file (a test split without labels), never in some."""

    name: str
    kind: str = "text"
    allow_empty: bool = False
    optional: bool = False
    key: str | None = None
    same_length_as: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Column kind {self.kind!r} is unknown; choose from {sorted(KINDS)}")

    @property
    def label(self) -> str:
        """The column as messages name it (``translation.en`` for a key inside an object column)."""
        return self.name if self.key is None else f"{self.name}.{self.key}"

    @property
    def need(self) -> str:
        return "a string" if self.kind == "text" and self.allow_empty else KINDS[self.kind]


#: The columns a task reads: a list, or a function of the first record's keys (the CSV header) that returns one, for
#: tasks whose columns depend on the layout (a ``translation`` object or one column per language).
Columns = Sequence[Column] | Callable[[list[str]], Sequence[Column]]

_ABSENT = object()


def _items(n: int) -> str:
    return f"{n} item" if n == 1 else f"{n} items"


def _label_problem(value) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return f"is {_shown(value)}"
    if isinstance(value, str) and not value.strip():
        return "is an empty string"
    return None


def _value_problem(column: Column, value) -> str | None:
    """Why ``value`` (not null) cannot be ``column``'s value, or None."""
    if column.kind == "text":
        if not isinstance(value, str):
            return f"is {_shown(value)}"
        return None if column.allow_empty or value.strip() else "is an empty string"
    if column.kind == "label":
        return _label_problem(value)
    if not isinstance(value, list):
        return f"is {_shown(value)}"
    if column.kind == "words" and not value:
        return "is an empty array"
    for i, item in enumerate(value):
        problem = _label_problem(item) if column.kind == "tags" else (
            None if isinstance(item, str) else f"is {_shown(item)}")
        if problem is None and column.kind == "words" and not item.strip():
            problem = "is an empty string (a word without characters has no sub-token to carry its tag)"
        if problem is not None:
            return f"item {i} {problem}"
    return None


class _RecordChecker:
    """The values of ``columns`` in each record of one file, in file order; keeps what later records are compared
    with (where a column was first seen, the kind of its labels, whether an optional column is given)."""

    def __init__(self, path: str, columns: Columns):
        self.path, self.spec = path, columns
        self.columns: Sequence[Column] | None = None
        self.first_present: dict[str, int] = {}  # column → first line holding it
        self.first_absent: dict[str, int] = {}  # column → first line without it (required: without the key)
        self.label_kinds: dict[str, tuple[type, int]] = {}  # label/tags column → (int or str, line)
        self.failed = False

    def check(self, line: int, record: dict) -> None:
        if self.columns is None:
            self.columns = list(self.spec(list(record)) if callable(self.spec) else self.spec)
        try:
            for column in self.columns:
                self._check(column, line, record)
        except DataFileError:
            self.failed = True  # a record that parsed: the file is JSON lines, whatever its extension
            raise

    def _error(self, line: int, column: Column, what: str) -> DataFileError:
        return DataFileError(f"{self.path}:{line}: column {column.label!r} {what}")

    def _lookup(self, column: Column, line: int, record: dict):
        value = record.get(column.name, _ABSENT)
        if column.key is None or value is _ABSENT or value is None:
            return value
        if not isinstance(value, dict):
            raise DataFileError(f"{self.path}:{line}: column {column.name!r} is {_shown(value)}; expected an object "
                                f"with the key {column.key!r}")
        return value.get(column.key)  # a key missing inside the object reads as null (datasets fills it with None)

    def _check(self, column: Column, line: int, record: dict) -> None:
        value = self._lookup(column, line, record)
        given = value is not _ABSENT and value is not None
        if column.optional:
            self._check_optional(column, line, given, value)
            if not given:
                return
        elif value is None:
            raise self._error(line, column, f"is null; every row needs {column.need}")
        elif value is _ABSENT:
            if column.label in self.first_present:
                raise self._missing(column, line, self.first_present[column.label])
            self.first_absent.setdefault(column.label, line)
            return
        elif column.label in self.first_absent:  # absent from an earlier record: that one is the first error
            raise self._missing(column, self.first_absent[column.label], line)
        else:
            self.first_present.setdefault(column.label, line)
        problem = _value_problem(column, value)
        if problem is not None:
            raise self._error(line, column, f"{problem}; expected {column.need}")
        if column.kind in ("label", "tags"):
            self._check_label_kind(column, line, value if column.kind == "tags" else [value])
        if column.same_length_as is not None:
            other = record.get(column.same_length_as)
            if isinstance(other, list) and len(other) != len(value):
                raise self._error(line, column, f"holds {_items(len(value))} but column {column.same_length_as!r} "
                                                f"holds {_items(len(other))}: one item per item of "
                                                f"{column.same_length_as!r}")

    def _missing(self, column: Column, line: int, present: int) -> DataFileError:
        return self._error(line, column, f"is missing (line {present} has it); every row needs {column.need}")

    def _check_optional(self, column: Column, line: int, given: bool, value) -> None:
        """An optional column is given in every record or in none (a test split with labels, or without)."""
        mine, other = (self.first_present, self.first_absent) if given else (self.first_absent, self.first_present)
        mine.setdefault(column.label, line)
        if column.label in other:
            first = other[column.label]
            what = (f"holds a value, but line {first} has none" if given else
                    f"is {'null' if value is None else 'missing'}, but line {first} has one")
            raise self._error(line, column, f"{what}: give every row {column.need}, or none")

    def _check_label_kind(self, column: Column, line: int, values: list) -> None:
        """Integer labels and string labels are different classes (``1`` is not ``"1"``): one kind per file."""
        for value in values:
            kind = int if isinstance(value, int) else str
            first = self.label_kinds.setdefault(column.label, (kind, line))
            if first[0] is not kind:
                names = {int: "an integer", str: "a string"}
                raise self._error(line, column, f"holds {names[kind]} label ({value!r}) but line {first[1]} holds "
                                                f"{names[first[0]]} label: use one kind of label in a file")


def _check_json_lines(path: str, first: tuple[int, str], rest: Iterator[tuple[int, int, str]],
                      checker: _RecordChecker | None = None) -> int:
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
        if checker is not None:
            checker.check(number, value)
        records += 1
    return records


def _chain(first: tuple[int, str], rest: Iterator[tuple[int, int, str]]) -> Iterator[tuple[int, str]]:
    yield first
    for number, _, text in rest:
        yield number, text


def _check_json_document(path: str, checker: _RecordChecker | None = None) -> int:
    with open(path, encoding="utf-8-sig") as f:
        text = f.read()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg} (column {exc.colno})") from None
    if isinstance(value, list):
        for i, (line, record) in enumerate(_array_records(text)):
            if not isinstance(record, dict):
                raise DataFileError(f"{path}:{line}: record {i} of the JSON array is {_kind(record)}, expected an "
                                    "object")
            if checker is not None:
                checker.check(line, record)
        return len(value)
    if checker is not None and isinstance(value, dict):
        checker.check(1 + text[: len(text) - len(text.lstrip())].count("\n"), value)
    return 1


def _array_records(text: str) -> Iterator[tuple[int, object]]:
    """``(line where it starts, record)`` of every item of a JSON array document (already known to parse)."""
    decoder, line, done = json.JSONDecoder(), 1, 0
    index = text.index("[") + 1
    while True:
        while text[index] in " \t\r\n,":
            index += 1
        if text[index] == "]":
            return
        line += text.count("\n", done, index)
        record, end = decoder.raw_decode(text, index)
        yield line, record
        done, index = index, end


def _check_csv(path: str, delimiter: str, checker: _RecordChecker | None = None) -> int:
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
                if checker is not None:  # every field is a string: an empty one is refused where "" would be
                    checker.check(reader.line_num, dict(zip(header, row)))
                rows += 1
        except csv.Error as exc:
            raise DataFileError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from None
    return rows


def check_data_file(path: str, builder: str, columns: Columns | None = None) -> None:
    """Raise :class:`DataFileError` naming ``path`` (and the line) unless the file can be read by the ``datasets``
    builder ``builder`` (``"text"``, ``"json"`` or ``"csv"``) and holds at least one record; with ``columns``, every
    record of a JSON or CSV file must also hold them as they say (file, line and column of the first that does not).
    Plain text has no columns: ``columns`` is not used for it."""
    checker = _RecordChecker(path, columns) if columns is not None and builder != "text" else None
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
            records = _check_json_document(path, checker)
        else:
            try:
                records = _check_json_lines(path, first, lines, checker)
            except DataFileError:
                # one pretty-printed JSON object over several lines is a document, not JSON lines
                if (checker is not None and checker.failed) or not path.endswith(".json") \
                        or _json_document_or_none(path) is None:
                    raise
                records = _check_json_document(path, _RecordChecker(path, columns) if checker else None)
        if records == 0:
            raise DataFileError(f"{path}: the file holds no JSON records")
    else:
        for _ in lines:
            pass
        if builder == "csv":
            if _check_csv(path, "\t" if path.lower().endswith(".tsv") else ",", checker) == 0:
                raise DataFileError(f"{path}: the file holds a header but no rows")


def _json_document_or_none(path: str):
    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
