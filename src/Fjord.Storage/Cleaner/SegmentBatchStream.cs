using System.Buffers.Binary;
using Fjord.Protocol.Records;
using Microsoft.Win32.SafeHandles;

namespace Fjord.Storage;

/// <summary>
/// Reads the batches of a closed segment file front to back through one reusable buffer, so a
/// 1 GiB segment is cleaned in a few MiB of memory. Each batch returned by <see cref="TryRead"/>
/// is a slice of that buffer, valid only until the next call.
/// </summary>
/// <remarks>
/// The stream reads through the segment's own handle (<see cref="LogSegment.WholeFile"/>), which
/// it does not own: a segment deleted meanwhile keeps its handle open for file.delete.delay.ms.
/// Only framing is checked here (length at least the v2 minimum and inside the file); the caller
/// validates each batch. Reads stop at the end of the region (the segment's published size), never at
/// the file's length. A batch larger than <c>maxBatchBytes</c> or one cut short by the end of the
/// data is an <see cref="InvalidDataException"/> naming the file and position.
/// </remarks>
internal sealed class SegmentBatchStream
{
    private readonly SafeFileHandle _handle;
    private readonly string _path;
    private readonly long _dataEnd;
    private readonly int _maxBatchBytes;
    private byte[] _buffer;
    private long _bufferFilePosition; // file position of _buffer[0]
    private int _start, _end;

    /// <param name="file">The segment's bytes: a handle (not owned) and the published size.</param>
    /// <param name="path">The file's name, for error messages.</param>
    public SegmentBatchStream(FileRegion file, string path, int bufferBytes, int maxBatchBytes)
    {
        _handle = file.Handle;
        _bufferFilePosition = file.Position;
        _dataEnd = file.Position + file.Length;
        _path = path;
        _maxBatchBytes = maxBatchBytes;
        _buffer = new byte[Math.Max(bufferBytes, RecordBatchLayout.HeaderSize)];
    }

    /// <summary>File position of the next batch.</summary>
    public long Position => _bufferFilePosition + _start;

    public bool TryRead(out RecordBatch batch)
    {
        batch = default;
        long position = Position;
        if (position >= _dataEnd) return false;
        if (!Fill(RecordBatchLayout.LogOverhead))
            throw Corrupt(position, $"{_dataEnd - position} trailing bytes cannot hold a batch header");
        int batchLength = BinaryPrimitives.ReadInt32BigEndian(_buffer.AsSpan(_start + RecordBatchLayout.BatchLength));
        if (batchLength < RecordBatchLayout.MinBatchLength)
            throw Corrupt(position, $"batch length {batchLength} is below the {RecordBatchLayout.MinBatchLength}-byte minimum");
        long size = (long)batchLength + RecordBatchLayout.LogOverhead;
        if (size > _maxBatchBytes)
            throw Corrupt(position, $"a batch of {size} bytes exceeds the cleaner's limit of {_maxBatchBytes}");
        if (!Fill((int)size))
            throw Corrupt(position, $"a batch of {size} bytes runs past the end of the data ({_dataEnd} bytes)");
        batch = new RecordBatch(_buffer.AsMemory(_start, (int)size));
        _start += (int)size;
        return true;
    }

    /// <summary>Makes at least <paramref name="count"/> unread bytes available; false at the end of the data.</summary>
    private bool Fill(int count)
    {
        if (_end - _start >= count) return true;
        if (Position + count > _dataEnd) return false;
        if (count > _buffer.Length)
        {
            var larger = new byte[Math.Max(count, Math.Min((long)_buffer.Length * 2, _maxBatchBytes))];
            _buffer.AsSpan(_start, _end - _start).CopyTo(larger);
            _buffer = larger;
        }
        else _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
        _bufferFilePosition += _start;
        _end -= _start;
        _start = 0;
        while (_end < count)
        {
            long filePosition = _bufferFilePosition + _end;
            int want = (int)Math.Min(_buffer.Length - _end, _dataEnd - filePosition);
            int read = RandomAccess.Read(_handle, _buffer.AsSpan(_end, want), filePosition);
            if (read <= 0) throw Corrupt(filePosition, "the file is shorter than the segment's size");
            _end += read;
        }
        return true;
    }

    private InvalidDataException Corrupt(long position, string detail) => new($"{_path} at position {position}: {detail}");
}
