"""Penn Treebank (Mikolov's preprocessed version): token ids of train / valid / test and the vocabulary.

Read from ``$WSBENCH_DATA``, the first layout found:

- the standard text files users have: ``ptb.train.txt ptb.valid.txt ptb.test.txt`` (Mikolov's
  ``simple-examples``) or ``train.txt valid.txt test.txt`` (DARTS / AWD-LSTM's ``data/penn``), in
  ``ptb/``, ``penn/``, ``simple-examples/data/`` or the data folder itself;
- the shared pack ``ptb/ptb.tar.xz`` (the three texts), checked against ``SHA256SUMS``.

Tokens are the whitespace-separated words of each line plus ``<eos>`` at its end (as DARTS's and
AWD-LSTM's ``Corpus``); ids follow the order of first appearance in train, valid, test. The
standard files have exactly 929,589 / 73,760 / 82,430 tokens and 10,000 words: anything else (a
truncated copy, another corpus) is a one-line error, because results on it would not be PTB's.
"""

from __future__ import annotations

import hashlib
import lzma
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.api.errors import CorruptDataError, DataMissingError, unknown
from harness.api.task import DataIdentity
from harness.data.identity import file_sha256, stat_cached
from harness.settings import DATA_ENV, data_checksum_status, data_root

PARTS: tuple[str, ...] = ("train", "valid", "test")
#: Tokens per part (``<eos>`` included) and vocabulary size of Mikolov's PTB.
PTB_TOKENS = {"train": 929_589, "valid": 73_760, "test": 82_430}
PTB_VOCAB = 10_000
EOS = "<eos>"
PACK_FILE = "ptb/ptb.tar.xz"
_FOLDERS = ("ptb", "penn", "simple-examples/data", ".")
_HINT = (
    f"set {DATA_ENV} to a folder holding ptb.train.txt/ptb.valid.txt/ptb.test.txt (or train.txt/valid.txt/test.txt) "
    f"in ptb/, penn/ or simple-examples/data/, or the pack {PACK_FILE} with its line in SHA256SUMS"
)


@dataclass(frozen=True)
class Corpus:
    """Token ids per part (int64, read-only), the vocabulary (id -> word) and where it came from."""

    parts: dict[str, np.ndarray]
    vocab: tuple[str, ...]
    source: str
    sha256: dict[str, str]

    def tokens(self, part: str) -> np.ndarray:
        """The ids of one part (``train``, ``valid`` or ``test``)."""
        if part not in self.parts:
            raise unknown("PTB part", part, PARTS)
        return self.parts[part]


def text_files() -> dict[str, Path] | None:
    """The three standard text files of the first folder holding all of them, else None."""
    root = data_root(required=True)
    assert root is not None
    for folder in _FOLDERS:
        for prefix in ("ptb.", ""):
            paths = {part: root / folder / f"{prefix}{part}.txt" for part in PARTS}
            if all(p.is_file() for p in paths.values()):
                return paths
    return None


def load_ptb() -> Corpus:
    """Penn Treebank from the data folder (text files first, then the shared pack)."""
    files = text_files()
    if files is not None:
        stamp = tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files.values())
        return _from_texts(stamp)
    root = data_root(required=True)
    assert root is not None
    pack = root / PACK_FILE
    if not pack.is_file():
        raise DataMissingError(f"Penn Treebank not found under {root}; {_HINT}")
    status = data_checksum_status(pack, PACK_FILE, "Penn Treebank pack")
    st = pack.stat()
    return _from_pack(str(pack.resolve()), st.st_size, st.st_mtime_ns, status)


@lru_cache(maxsize=2)
def _from_texts(stamp: tuple[tuple[str, int, int], ...]) -> Corpus:
    texts = {}
    for part, (path, _, _) in zip(PARTS, stamp):
        try:
            texts[part] = Path(path).read_bytes()
        except OSError as e:
            raise DataMissingError(f"Penn Treebank {part} text {path} cannot be read ({e.strerror}); {_HINT}") from None
    return _corpus(texts, f"text files in {Path(stamp[0][0]).parent}")


def corpus_identity(selection: Mapping[str, Any]) -> DataIdentity:
    """Which PTB ``load_ptb`` reads: the SHA-256 of each part's text (the same whether from text files or
    the pack), where it is, and ``selection`` (the parts and token budgets a task uses)."""
    files = text_files()
    if files is not None:
        sums = {part: file_sha256(path) for part, path in files.items()}
        return DataIdentity("ptb", f"text files in {files['train'].resolve().parent}", sums, selection)
    root = data_root(required=True)
    assert root is not None
    pack = root / PACK_FILE
    if not pack.is_file():
        raise DataMissingError(f"Penn Treebank not found under {root}; {_HINT}")
    sums = stat_cached(
        pack, "ptb-pack-texts", lambda p: {k: hashlib.sha256(v).hexdigest() for k, v in _pack_texts(str(p)).items()}
    )
    return DataIdentity("ptb", f"pack {pack.resolve()}", sums, selection)


@lru_cache(maxsize=2)
def _from_pack(path: str, size: int, mtime: int, status: str) -> Corpus:
    return _corpus(_pack_texts(path), f"{path} ({status})")


def _pack_texts(path: str) -> dict[str, bytes]:
    """The three texts of the pack at ``path``."""
    texts: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                name = Path(member.name).name
                part = name.removeprefix("ptb.").removesuffix(".txt")
                if member.isfile() and part in PARTS and name.endswith(".txt"):
                    handle = tar.extractfile(member)
                    assert handle is not None
                    texts[part] = handle.read()
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError) as e:
        raise CorruptDataError(f"Penn Treebank pack {path} is unreadable ({type(e).__name__}: {e}); copy it again") from None
    missing = [p for p in PARTS if p not in texts]
    if missing:
        raise CorruptDataError(f"Penn Treebank pack {path} lacks {', '.join(missing)}.txt; copy it again")
    return texts


def _corpus(texts: dict[str, bytes], source: str) -> Corpus:
    """Tokenize, build the vocabulary and check the standard sizes."""
    words: dict[str, int] = {}
    parts = {}
    for part in PARTS:
        try:
            lines = texts[part].decode("utf-8").splitlines()
        except UnicodeDecodeError as e:
            raise CorruptDataError(f"Penn Treebank {part} text from {source} is not UTF-8 text ({e}); copy it again") from None
        ids = [words.setdefault(w, len(words)) for line in lines for w in (*line.split(), EOS)]
        if len(ids) != PTB_TOKENS[part]:
            raise CorruptDataError(
                f"Penn Treebank {part} text from {source} has {len(ids):,} tokens, not {PTB_TOKENS[part]:,}: "
                "truncated, or not Mikolov's PTB; copy the standard files again"
            )
        parts[part] = np.asarray(ids, dtype=np.int64)
        parts[part].setflags(write=False)
    if len(words) != PTB_VOCAB:
        raise CorruptDataError(
            f"Penn Treebank from {source} has {len(words):,} distinct words, not {PTB_VOCAB:,}: not Mikolov's PTB"
        )
    sha = {part: hashlib.sha256(texts[part]).hexdigest() for part in PARTS}
    return Corpus(parts=parts, vocab=tuple(words), source=source, sha256=sha)
