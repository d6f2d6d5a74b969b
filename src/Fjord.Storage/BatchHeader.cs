using System.Buffers.Binary;
using Fjord.Protocol.Records;
using Microsoft.Win32.SafeHandles;

namespace Fjord.Storage;

/// <summary>What the log needs from a batch header, with the batch's position in its segment.</summary>
public readonly record struct BatchHeader(int Position, int Size, long BaseOffset, long LastOffset, long MaxTimestamp,
    int PartitionLeaderEpoch, int RecordCount)
{
    public int End => Position + Size;

    /// <summary>Parses the header at the start of <paramref name="bytes"/> (at least 61 bytes) and checks
    /// its framing (batch length, magic, lastOffsetDelta); returns the problem, or null when it is sound.</summary>
    public static string? TryParse(ReadOnlySpan<byte> bytes, int position, out BatchHeader header)
    {
        header = default;
        if (bytes.Length < RecordBatchLayout.HeaderSize) return $"only {bytes.Length} bytes remain at position {position}, less than a batch header";
        int batchLength = BinaryPrimitives.ReadInt32BigEndian(bytes[RecordBatchLayout.BatchLength..]);
        if (batchLength < RecordBatchLayout.MinBatchLength) return $"batch length {batchLength} at position {position} is below the minimum";
        sbyte magic = (sbyte)bytes[RecordBatchLayout.Magic];
        if (magic != RecordBatchLayout.CurrentMagic) return $"magic {magic} at position {position} is not 2";
        int lastOffsetDelta = BinaryPrimitives.ReadInt32BigEndian(bytes[RecordBatchLayout.LastOffsetDelta..]);
        if (lastOffsetDelta < 0) return $"negative lastOffsetDelta {lastOffsetDelta} at position {position}";
        long baseOffset = BinaryPrimitives.ReadInt64BigEndian(bytes[RecordBatchLayout.BaseOffset..]);
        if (baseOffset < 0) return $"negative base offset {baseOffset} at position {position}";
        header = new BatchHeader(position, checked(RecordBatchLayout.LogOverhead + batchLength), baseOffset, baseOffset + lastOffsetDelta,
            BinaryPrimitives.ReadInt64BigEndian(bytes[RecordBatchLayout.MaxTimestamp..]),
            BinaryPrimitives.ReadInt32BigEndian(bytes[RecordBatchLayout.PartitionLeaderEpoch..]),
            BinaryPrimitives.ReadInt32BigEndian(bytes[RecordBatchLayout.RecordsCount..]));
        return null;
    }
}

/// <summary>
/// Walks the batch headers of a segment file between two positions, reading the file in chunks
/// through a caller-supplied buffer (so a scan of many small batches costs one read per chunk, and
/// nothing is allocated). Checks framing only, never CRCs.
/// </summary>
internal ref struct BatchHeaderScanner
{
    private readonly SafeFileHandle _file;
    private readonly int _end;
    private readonly Span<byte> _buffer;
    private int _bufferStart, _bufferLength;

    public BatchHeaderScanner(SafeFileHandle file, int start, int end, Span<byte> buffer)
    {
        if (buffer.Length < RecordBatchLayout.HeaderSize) throw new ArgumentException("the scan buffer must hold a batch header", nameof(buffer));
        _file = file;
        _end = end;
        _buffer = buffer;
        Position = start;
        _bufferStart = start;
        _bufferLength = 0;
    }

    /// <summary>Where the next header is expected.</summary>
    public int Position { get; private set; }

    /// <summary>Reads the next header and moves past its batch. False at the end; throws
    /// <see cref="StorageException"/> when the bytes are not a sound batch (see <see cref="TryNext(out BatchHeader, out string?)"/>).</summary>
    public bool Next(string file, out BatchHeader header)
    {
        if (TryNext(out header, out var problem)) return true;
        if (problem is not null) throw new StorageException($"corrupt segment {file}: {problem}");
        return false;
    }

    /// <summary>Reads the next header; false with a null problem at the end, false with the problem
    /// when the header is invalid or its batch runs past the end. Does not move on failure.</summary>
    public bool TryNext(out BatchHeader header, out string? problem)
    {
        header = default;
        problem = null;
        int remaining = _end - Position;
        if (remaining <= 0) return false;
        var bytes = Load(Math.Min(remaining, RecordBatchLayout.HeaderSize));
        problem = BatchHeader.TryParse(bytes, Position, out header);
        if (problem is not null) return false;
        if (header.Size > remaining)
        {
            problem = $"batch of {header.Size} bytes at position {Position} runs past the end at {_end}";
            return false;
        }
        Position += header.Size;
        return true;
    }

    private ReadOnlySpan<byte> Load(int count)
    {
        if (Position < _bufferStart || Position + count > _bufferStart + _bufferLength)
        {
            _bufferStart = Position;
            int want = Math.Min(_buffer.Length, _end - Position);
            _bufferLength = 0;
            while (_bufferLength < want)
            {
                int read = RandomAccess.Read(_file, _buffer[_bufferLength..want], _bufferStart + _bufferLength);
                if (read <= 0) break;
                _bufferLength += read;
            }
        }
        int offset = Position - _bufferStart;
        return _buffer.Slice(offset, Math.Min(count, _bufferLength - offset));
    }
}
