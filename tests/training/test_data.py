"""Corpora, splits, tokenizers and batches."""

import json

import numpy as np
import pytest
import torch

from training.core import tokenizer
from training.core.config import ConfigError
from training.pipeline import data
from training.pipeline.config import DataConfig


def write_corpus(root):
    (root / "a.txt").write_text("the cat sat on the mat. " * 20)
    (root / "notes.md").write_text("# Notes\nthe dog sat on the log.\n" * 20)
    (root / "code.py").write_text("def f(x):\n    return x + 1\n" * 20)
    (root / "docs.jsonl").write_text(
        json.dumps({"text": "first json doc"}) + "\n\n" + json.dumps({"text": "second"}) + "\n"
    )
    (root / "ignored.bin").write_bytes(b"\x00\x01")
    return root


def test_local_folder_reads_txt_md_py_and_jsonl(tmp_path):
    docs = data.documents(DataConfig(source=str(write_corpus(tmp_path))))
    names = [d.name for d in docs]
    assert names == ["a.txt", "code.py", "docs.jsonl#0", "docs.jsonl#2", "notes.md"]
    assert docs[2].text == "first json doc"


def test_jsonl_without_text_field_is_an_error_naming_the_line(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"body": "x"}\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:1 has no string 'text' field"):
        data.documents(DataConfig(source=str(tmp_path)))


def test_missing_source_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="data.source: no such file"):
        data.documents(DataConfig(source=str(tmp_path / "nope")))


def test_stdlib_corpus_is_deterministic_and_excludes_tests():
    cfg = DataConfig(max_chars=200_000)
    first, second = data.documents(cfg), data.documents(cfg)
    assert [d.name for d in first] == [d.name for d in second]
    assert all("/test/" not in d.name and "idlelib" not in d.name for d in first)
    assert first[0].name.startswith("stdlib/") and first[0].name.endswith(".py")


def test_heldout_split_is_by_document_and_stable():
    docs = [data.Document(f"doc{i}", "x") for i in range(400)]
    train, held = data.split(docs, 0.1)
    assert 20 < len(held) < 60 and len(train) + len(held) == 400
    train2, held2 = data.split(docs[::-1] + [data.Document("new", "y")], 0.1)
    assert {d.name for d in held} <= {d.name for d in held2}  # adding a file moves nothing


def test_hf_dataset_saved_to_disk_is_read_as_documents(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"text": ["alpha beta", "gamma delta", "epsilon"]}).save_to_disk(str(tmp_path / "ds"))
    docs = data.documents(DataConfig(source=f"hf:{tmp_path / 'ds'}"))
    assert [d.text for d in docs] == ["alpha beta", "gamma delta", "epsilon"]
    with pytest.raises(ConfigError, match="hf_text_field"):
        data.documents(DataConfig(source=f"hf:{tmp_path / 'ds'}", hf_text_field="body"))


def test_synthetic_repeats_repeat_a_random_segment_after_bos():
    cfg = DataConfig(source="synthetic-repeats", synthetic_vocab=20, synthetic_period=6)
    stream = data.synthetic_stream(cfg, n_ctx=40, n_tokens=4000, seed=0).reshape(-1, 40)
    assert (stream[:, 0] == tokenizer.BOS_ID).all() and stream[:, 1:].min() >= 1
    periods = set()
    for row in stream[:, 1:]:
        period = next(p for p in range(3, 13) if np.array_equal(row[p:], row[:-p]))
        periods.add(period)
    assert len(periods) > 5  # the period varies, so position alone cannot predict the repeat


def test_bpe_tokenizer_is_stable_across_trainings_and_reloads(tmp_path):
    texts = [d.text for d in data.documents(DataConfig(max_chars=100_000))]
    a, b = tokenizer.train_bpe(texts, 300), tokenizer.train_bpe(texts, 300)
    assert a.to_str() == b.to_str()
    tokenizer.save(a, tmp_path)
    sample = "def main(argv):\n    return 0\n"
    ids = a.encode(sample).ids
    assert tokenizer.load(tmp_path).encode(sample).ids == ids
    hf = tokenizer.load_hf(tmp_path)
    assert hf(sample, add_special_tokens=False)["input_ids"] == ids
    assert hf.decode(ids) == sample and hf.bos_token_id == tokenizer.BOS_ID


def test_byte_tokenizer_has_256_bytes_and_bos():
    tok = tokenizer.byte_tokenizer()
    assert tok.get_vocab_size() == 257
    text = "héllo\n\tworld"
    ids = tok.encode(text).ids
    assert len(ids) == len(text.encode()) and tok.decode(ids) == text


def test_prepare_suite_data_reuses_the_tokenizer_and_rejects_changed_settings(tmp_path):
    (tmp_path / "corpus").mkdir()
    corpus = write_corpus(tmp_path / "corpus")
    cfg = DataConfig(source=str(corpus), vocab_size=300)
    suite = tmp_path / "suite"
    info = data.prepare_suite_data(cfg, 8, suite, log=lambda *_: None)
    before = (suite / "tokenizer.json").read_bytes()
    assert data.prepare_suite_data(cfg, 8, suite, log=lambda *_: None) == info
    assert (suite / "tokenizer.json").read_bytes() == before
    assert info["train_tokens"] == len(data.load_split(suite, "train"))
    with pytest.raises(ConfigError, match="other data settings"):
        data.prepare_suite_data(DataConfig(source=str(corpus), vocab_size=320), 8, suite, log=lambda *_: None)


def test_train_batch_depends_only_on_seed_and_step():
    stream = np.arange(1000)
    a = data.train_batch(stream, 7, seed=3, batch_size=4, n_ctx=16)
    assert torch.equal(a, data.train_batch(stream, 7, seed=3, batch_size=4, n_ctx=16))
    assert not torch.equal(a, data.train_batch(stream, 8, seed=3, batch_size=4, n_ctx=16))
    assert (a[:, 1:] - a[:, :-1] == 1).all()  # contiguous windows


def test_repeat_fraction_copies_the_first_half_of_some_rows():
    stream = np.arange(100_000)
    plain = data.train_batch(stream, 3, seed=0, batch_size=64, n_ctx=32)
    mixed = data.train_batch(stream, 3, seed=0, batch_size=64, n_ctx=32, repeat_fraction=0.25)
    repeated = (mixed[:, 16:] == mixed[:, :16]).all(1)
    assert 5 < repeated.sum() < 30
    assert torch.equal(mixed[~repeated], plain[~repeated]) and torch.equal(mixed[:, :16], plain[:, :16])


def test_random_repeats_copy_a_segment_to_a_drawn_offset_and_leave_the_rest_alone():
    stream = np.arange(1_000_000)  # every token distinct: a repeat is the only equality
    n_ctx, offsets, lengths = 64, set(), set()
    for step in range(20):
        plain = data.train_batch(stream, step, seed=0, batch_size=32, n_ctx=n_ctx)
        mixed = data.train_batch(
            stream, step, seed=0, batch_size=32, n_ctx=n_ctx, repeat_fraction=0.5, repeat_layout="random"
        )
        for row in range(32):
            changed = torch.nonzero(mixed[row] != plain[row]).flatten()
            if len(changed) == 0:
                continue
            # one contiguous copy of an earlier stretch of the same window
            first, last = int(changed[0]), int(changed[-1])
            length = last - first + 1
            assert len(changed) == length and n_ctx // 4 <= length <= n_ctx // 2
            offset = first - int(mixed[row, first] - plain[row, 0])  # how far back the copy reads
            assert length <= offset <= n_ctx - length
            assert torch.equal(mixed[row, first : last + 1], plain[row, first - offset : last + 1 - offset])
            offsets.add(offset)
            lengths.add(length)
    assert len(offsets) > 20 and len(lengths) > 10  # drawn, not fixed


def test_repeat_segments_stay_inside_the_context():
    rng = np.random.default_rng(0)
    for n_ctx in (8, 9, 64, 256):
        source, offset, length = data.repeat_segments(rng, 500, n_ctx).T
        assert (source >= 0).all() and (offset >= length).all() and (source + offset + length <= n_ctx).all()


def save_hf(path, field: str, texts: list[str]) -> str:
    import datasets

    datasets.Dataset.from_dict({field: texts, "other": [1] * len(texts)}).save_to_disk(str(path))
    return f"hf:{path}"


def test_a_mixture_gives_each_source_its_share_of_the_characters_and_reads_text_or_content(tmp_path):
    prose = save_hf(tmp_path / "prose", "text", [f"the cat sat on mat number {i}. " * 3 for i in range(200)])
    code = save_hf(tmp_path / "code", "content", [f"def f{i}(x):\n    return x + {i}\n" for i in range(200)])
    cfg = DataConfig(source=f"{prose}@0.75+{code}@0.25", hf_text_field="text,content", max_chars=4000)
    docs = data.documents(cfg)
    chars = {src: sum(len(d.text) for d in docs if d.name.startswith(str(tmp_path / src))) for src in ("prose", "code")}
    # each source stops at the first document that reaches its share (3,000 and 1,000 characters)
    assert 3000 <= chars["prose"] < 3000 + 90 and 1000 <= chars["code"] < 1000 + 30
    assert docs[0].text.startswith("the cat") and docs[-1].text.startswith("def f")
    assert data.mixture("stdlib") == [("stdlib", 1.0)]
    assert data.mixture("hf:a@9+hf:b@1") == [("hf:a", 0.9), ("hf:b", 0.1)]
    assert data.mixture("data/x@y") == [("data/x@y", 1.0)]  # an "@" in a path is not a share
    for bad in ("hf:a@0+hf:b@1", "hf:a@-1", "@0.5"):
        with pytest.raises(ConfigError, match="SOURCE@SHARE"):
            data.mixture(bad)
    with pytest.raises(ConfigError, match="has no string field 'text'"):
        data.documents(DataConfig(source=f"{prose}+{code}"))  # code has no text field


def test_a_mixture_builds_a_suite_and_its_documents_split_alike(tmp_path):
    prose = save_hf(tmp_path / "prose", "text", [f"the cat sat on mat number {i}. " * 3 for i in range(200)])
    code = save_hf(tmp_path / "code", "content", [f"def f{i}(x):\n    return x + {i}\n" for i in range(200)])
    cfg = DataConfig(source=f"{prose}@0.5+{code}@0.5", hf_text_field="text,content", max_chars=8000, vocab_size=300)
    info = data.prepare_suite_data(cfg, 16, tmp_path / "suite", log=lambda *_: None)
    names = info["train_documents"] + info["heldout_documents"]
    assert any("prose#" in n for n in names) and any("code#" in n for n in names)
    assert info["train_tokens"] == len(data.load_split(tmp_path / "suite", "train"))


def test_encoding_in_chunks_gives_the_stream_of_one_encoding(monkeypatch):
    tok = tokenizer.byte_tokenizer()
    docs = [data.Document(str(i), f"doc {i} " * (i % 5 + 1)) for i in range(10)]
    whole = data.encode(tok, docs)
    monkeypatch.setattr(data, "ENCODE_CHUNK", 3)
    assert np.array_equal(data.encode(tok, docs), whole)
    assert (whole == tokenizer.BOS_ID).sum() == len(docs) + 1


def test_the_paper_preset_streams_prose_and_code_and_falls_back_to_stdlib_only_when_asked(monkeypatch):
    import datasets

    from training.pipeline import presets
    from training.pipeline.config import apply_overrides

    paper = presets.load("paper")
    sources = data.mixture(paper.data.source)
    assert [s.split(":")[0] for s, _ in sources] == ["hf", "hf"] and [w for _, w in sources] == [0.9, 0.1]
    budget = paper.train.steps * paper.train.batch_size * paper.model.n_ctx  # tokens
    assert 3.5 <= paper.data.max_chars / budget <= 5  # about one pass at ~4 characters per token
    assert apply_overrides(paper, ["data.source=stdlib"]).data.source == "stdlib"

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)  # no network in tests
    with pytest.raises(ConfigError, match="cannot stream .*fineweb-edu.*--set data.source=stdlib"):
        data.documents(paper.data)
