#!/usr/bin/python3
"""Generates the codec and record-batch test vectors with real client libraries.

Run once with Debian's python3 (packages python3-snappy, python3-lz4, python3-zstandard,
python3-kafka):  /usr/bin/python3 tests/Fjord.Protocol.Tests/Compression/make-vectors.py
Outputs go to Compression/Data and Records/Data next to this script's folder; the C# tests
rebuild the same payloads and records with the rules below, so keep the two in step.
"""
import gzip
import os
import struct

import lz4.frame
import snappy
import zstandard
from kafka import codec as kcodec
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder

def xxh32(data, seed=0):
    """Plain xxHash32, so kafka-python's old-Kafka lz4 path runs without python3-xxhash."""
    p1, p2, p3, p4, p5, m = 2654435761, 2246822519, 3266489917, 668265263, 374761393, 0xFFFFFFFF
    rotl = lambda x, r: ((x << r) | (x >> (32 - r))) & m
    n, i = len(data), 0
    if n >= 16:
        v = [(seed + p1 + p2) & m, (seed + p2) & m, seed & m, (seed - p1) & m]
        while i + 16 <= n:
            for k in range(4):
                lane = struct.unpack_from("<I", data, i + 4 * k)[0]
                v[k] = (rotl((v[k] + lane * p2) & m, 13) * p1) & m
            i += 16
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & m
    else:
        h = (seed + p5) & m
    h = (h + n) & m
    while i + 4 <= n:
        h = (rotl((h + struct.unpack_from("<I", data, i)[0] * p3) & m, 17) * p4) & m
        i += 4
    while i < n:
        h = (rotl((h + data[i] * p5) & m, 11) * p1) & m
        i += 1
    h ^= h >> 15; h = (h * p2) & m; h ^= h >> 13; h = (h * p3) & m; h ^= h >> 16
    return h


class _XxHashShim:
    class xxh32:
        def __init__(self, data, seed=0):
            self._h = xxh32(bytes(data), seed)

        def digest(self):
            return struct.pack(">I", self._h)


if kcodec.xxhash is None:
    kcodec.xxhash = _XxHashShim

HERE = os.path.dirname(os.path.abspath(__file__))
COMPRESSION = os.path.join(HERE, "Data")
RECORDS = os.path.join(HERE, "..", "Records", "Data")


def payload():
    """~200 KiB of log-like text: repetitive enough to compress, varied enough to span blocks."""
    lines = []
    for i in range(4000):
        lines.append(b"%06d level=%s user=%d path=/api/v1/items/%d status=%d\n"
                     % (i, [b"INFO", b"WARN", b"DEBUG"][i % 3], (i * 7919) % 1000, i % 97, 200 + i % 5))
    return b"".join(lines)


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(bytes(data))


def codec_vectors():
    data = payload()
    half = len(data) // 2
    write(COMPRESSION, "payload.bin", data)
    write(COMPRESSION, "gzip.bin", gzip.compress(data, mtime=0))
    write(COMPRESSION, "gzip-multimember.bin", gzip.compress(data[:half], mtime=0) + gzip.compress(data[half:], mtime=0))
    write(COMPRESSION, "snappy-raw.bin", snappy.compress(data))
    write(COMPRESSION, "snappy-xerial.bin", kcodec.snappy_encode(data))  # kafka-python: xerial, 32 KiB blocks
    write(COMPRESSION, "lz4-kafka-python.bin", kcodec.lz4_encode(data))   # independent blocks
    write(COMPRESSION, "lz4-linked-checksums.bin", lz4.frame.compress(
        data, block_linked=True, content_checksum=True, block_checksum=True, store_size=True))
    write(COMPRESSION, "lz4-linked-64k.bin", lz4.frame.compress(
        data, block_linked=True, block_size=lz4.frame.BLOCKSIZE_MAX64KB, store_size=False))
    write(COMPRESSION, "lz4-hc-4mb.bin", lz4.frame.compress(
        data, compression_level=lz4.frame.COMPRESSIONLEVEL_MINHC, block_size=lz4.frame.BLOCKSIZE_MAX4MB))
    write(COMPRESSION, "lz4-old-kafka.bin", kcodec.lz4_encode_old_kafka(data))
    write(COMPRESSION, "zstd-nosize.bin", zstandard.ZstdCompressor(level=3, write_content_size=False).compress(data))
    stream = zstandard.ZstdCompressor(level=19, write_checksum=True).compressobj()
    write(COMPRESSION, "zstd-stream-checksum.bin", stream.compress(data) + stream.flush())
    # A frame that asks for a 128 MiB window (streaming, so no content size) around 1000 bytes.
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=27, write_content_size=False)
    big = zstandard.ZstdCompressor(compression_params=params).compressobj()
    write(COMPRESSION, "zstd-window-27.bin", big.compress(data[:1000]) + big.flush())
    c = zstandard.ZstdCompressor(level=1)
    write(COMPRESSION, "zstd-two-frames.bin", c.compress(data[:half]) + c.compress(data[half:]))


def record(i):
    """Record i of every generated batch (mirrored by KafkaPythonVectorTests.ExpectedRecord)."""
    key = None if i % 10 == 3 else b"key-%d" % i
    value = None if i % 17 == 5 else (b"value-%d-" % i) * (i % 5 + 1)
    headers = [("h1", b"a%d" % i), ("n", None)] if i % 3 == 0 else []
    return 1700000000000 + i * 10, key, value, headers


def batch_vectors():
    codecs = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
    for name, ident in codecs.items():
        b = DefaultRecordBatchBuilder(magic=2, compression_type=ident, is_transactional=(name == "none"),
                                      producer_id=1234, producer_epoch=5, base_sequence=42, batch_size=1 << 20)
        for i in range(50):
            ts, key, value, headers = record(i)
            assert b.append(i, ts, key, value, headers) is not None
        write(RECORDS, "batch-v2-%s.bin" % name, b.build())
    for magic in (0, 1):
        for name, ident in list(codecs.items())[:4]:
            b = LegacyRecordBatchBuilder(magic=magic, compression_type=ident, batch_size=1 << 20)
            for i in range(20):
                ts, key, value, _ = record(i)
                assert b.append(i, ts, key, value) is not None
            data = bytearray(b.build())
            write(RECORDS, "legacy-v%d-%s.bin" % (magic, name), data)
            if magic == 1 and ident != 0:
                # The Java producer gives a v1 wrapper the last inner offset; brokers then make inner
                # (relative) offsets absolute. The offset is outside the CRC, so patch it in.
                struct.pack_into(">q", data, 0, 1000 + 19)
                write(RECORDS, "legacy-v1-%s-wrapper-offset.bin" % name, data)


if __name__ == "__main__":
    codec_vectors()
    batch_vectors()
