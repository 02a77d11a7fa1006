"""Read (and, for tests, write) the official NAS-Bench-101 files without TensorFlow.

``nasbench_full.tfrecord`` / ``nasbench_only108.tfrecord`` are TFRecord files: each record is
``uint64 length | uint32 masked crc32c(length) | data | uint32 masked crc32c(data)`` (little
endian). Each record's data is UTF-8 JSON ``[module_hash, epochs, adjacency, ops, metrics]``:
``adjacency`` a string of V*V '0'/'1' (row-major), ``ops`` comma-joined op names, ``metrics``
the base64 of a ``nasbench.ModelMetrics`` protobuf (proto2):

* ModelMetrics: 1 ``repeated EvaluationData evaluation_data``, 2 ``int32 trainable_parameters``,
  3 ``double total_time``;
* EvaluationData: 1 ``current_epoch``, 2 ``training_time``, 3 ``train_accuracy``,
  4 ``validation_accuracy``, 5 ``test_accuracy`` (doubles), 6 ``string checkpoint_path``.

The benchmark API reads ``evaluation_data[2]`` as the end of training ([1] is halfway, [0] the
start). A cell has one record per (epoch budget, repeat); repeats appear in file order.
Both framing checksums are verified by default; the data checksum is pure-Python CRC-32C, so
``verify_data=False`` skips it when reading the 2 GB full file (the length checksum and the JSON /
protobuf structure still catch truncation).
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.api.errors import CorruptDataError

_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data``."""
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC-32C."""
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def iter_records(path: Path, verify_data: bool = True) -> Iterator[bytes]:
    """The data of each record of a TFRecord file; a one-line error on a damaged frame."""
    with open(path, "rb") as f:
        n = 0
        while True:
            head = f.read(12)
            if not head:
                return
            if len(head) < 12:
                raise CorruptDataError(f"{path} is truncated inside record {n}'s header; download it again")
            (length,) = struct.unpack("<Q", head[:8])
            (len_crc,) = struct.unpack("<I", head[8:])
            if masked_crc(head[:8]) != len_crc:
                raise CorruptDataError(f"{path}: record {n} has a bad length checksum; the file is not a TFRecord or is damaged")
            data = f.read(length)
            tail = f.read(4)
            if len(data) < length or len(tail) < 4:
                raise CorruptDataError(f"{path} is truncated inside record {n}; download it again")
            if verify_data and masked_crc(data) != struct.unpack("<I", tail)[0]:
                raise CorruptDataError(f"{path}: record {n} fails its data checksum; download it again")
            yield data
            n += 1


def write_records(path: Path, records: list[bytes]) -> None:
    """Write a TFRecord file (used to build small test files in the official format)."""
    with open(path, "wb") as f:
        for data in records:
            head = struct.pack("<Q", len(data))
            f.write(head + struct.pack("<I", masked_crc(head)) + data + struct.pack("<I", masked_crc(data)))


# --------------------------------------------------------------------------- protobuf


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | float | bytes]]:
    """(field number, wire type, value) of a protobuf message; unknown fields are skipped by callers."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        val: int | float | bytes
        if wt == 0:
            val, i = _varint(buf, i)
        elif wt == 1:
            if i + 8 > len(buf):
                raise ValueError("truncated fixed64")
            val = struct.unpack("<d", buf[i : i + 8])[0]
            i += 8
        elif wt == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated length-delimited field")
            val = buf[i : i + n]
            i += n
        elif wt == 5:
            val = buf[i : i + 4]
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        yield num, wt, val


@dataclass
class Evaluation:
    """One ``EvaluationData`` message."""

    current_epoch: float = 0.0
    training_time: float = 0.0
    train_accuracy: float = 0.0
    validation_accuracy: float = 0.0
    test_accuracy: float = 0.0


@dataclass
class ModelMetrics:
    """One ``ModelMetrics`` message."""

    evaluation_data: list[Evaluation] = field(default_factory=list)
    trainable_parameters: int = 0
    total_time: float = 0.0


_EVAL_FIELDS = {1: "current_epoch", 2: "training_time", 3: "train_accuracy", 4: "validation_accuracy", 5: "test_accuracy"}


def parse_model_metrics(buf: bytes) -> ModelMetrics:
    """Decode a serialized ``ModelMetrics``."""
    m = ModelMetrics()
    for num, wt, val in _fields(buf):
        if num == 1 and wt == 2 and isinstance(val, bytes):  # length-delimited: always bytes
            e = Evaluation()
            for n2, w2, v2 in _fields(val):
                if n2 in _EVAL_FIELDS and w2 == 1:
                    setattr(e, _EVAL_FIELDS[n2], float(v2))
            m.evaluation_data.append(e)
        elif num == 2 and wt == 0:
            v = int(val)
            m.trainable_parameters = v - (1 << 64) if v >= 1 << 63 else v  # int32 negatives are 10-byte varints
        elif num == 3 and wt == 1:
            m.total_time = float(val)
    return m


def _enc_varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def encode_model_metrics(m: ModelMetrics) -> bytes:
    """Serialize a ``ModelMetrics`` (for building test files in the official format)."""
    out = bytearray()
    for e in m.evaluation_data:
        body = b"".join(_enc_varint((n << 3) | 1) + struct.pack("<d", getattr(e, name)) for n, name in _EVAL_FIELDS.items())
        out += _enc_varint((1 << 3) | 2) + _enc_varint(len(body)) + body
    out += _enc_varint(2 << 3) + _enc_varint(m.trainable_parameters & ((1 << 64) - 1))
    out += _enc_varint((3 << 3) | 1) + struct.pack("<d", m.total_time)
    return bytes(out)


@dataclass(frozen=True)
class Record:
    """One decoded benchmark record: one training run of one cell at one epoch budget."""

    module_hash: str
    epochs: int
    adjacency: str
    ops: tuple[str, ...]
    metrics: ModelMetrics


def decode_record(data: bytes, path: Path, n: int) -> Record:
    """Decode the JSON + base64 protobuf payload of one record; a one-line error when malformed."""
    try:
        module_hash, epochs, adjacency, ops, raw = json.loads(data.decode("utf-8"))
        metrics = parse_model_metrics(base64.b64decode(raw, validate=True))
        return Record(str(module_hash), int(epochs), str(adjacency), tuple(str(ops).split(",")), metrics)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError, TypeError, binascii.Error) as e:
        raise CorruptDataError(f"{path}: record {n} is not a NAS-Bench-101 record ({type(e).__name__}: {e})") from None


def encode_record(rec: Record) -> bytes:
    """The payload of one record (for test files)."""
    raw = base64.b64encode(encode_model_metrics(rec.metrics)).decode("ascii")
    return json.dumps([rec.module_hash, rec.epochs, rec.adjacency, ",".join(rec.ops), raw]).encode("utf-8")


def read_benchmark(path: Path, verify_data: bool = True) -> Iterator[Record]:
    """Every record of an official NAS-Bench-101 TFRecord file, in file order."""
    for n, data in enumerate(iter_records(path, verify_data)):
        yield decode_record(data, path, n)
