using Fjord.Protocol.Records;

namespace Fjord.Server.Raft;

/// <summary>
/// The most recently appended batches of a <see cref="PartitionLogRaftLog"/>, in memory, exactly as
/// they were written to the segment, so that the reads a Raft node makes right after an append — the
/// leader answering parked fetches with the new batch and delivering it once committed, a follower
/// delivering what it fetched — are answered without reading the file back.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item>The cached batches are contiguous and end at the log end offset they were recorded with
/// (<see cref="End"/>); <see cref="Read"/> is answered from the cache only when the log still ends
/// there and the read starts within the cache, otherwise the caller reads the file.</item>
/// <item>Bytes handed out are never written again: batches are copied into chunks that are only ever
/// appended to, and any reset (truncation, snapshot reset) starts a new chunk. So a fetch answer
/// or a committed batch may keep a slice of a chunk for as long as it likes.</item>
/// <item>At most <see cref="_maxBytes"/> bytes of batches are held (whole batches are evicted from
/// the front; the last appended batch is always held).</item>
/// </list>
/// Not thread-safe on its own: <see cref="PartitionLogRaftLog"/> calls it under a lock of its own.
/// </remarks>
internal sealed class RaftTailCache
{
    private const int ChunkBytes = 1 << 20;

    private readonly record struct Entry(long BaseOffset, long LastOffset, byte[] Chunk, int Position, int Length);

    private readonly long _maxBytes;
    // The cached batches, oldest first: _entries[_head..]. Eviction advances _head; the list is
    // compacted once the evicted prefix is large, so appends and evictions are amortised O(1).
    private readonly List<Entry> _entries = [];
    private int _head;
    private long _bytes;
    private byte[]? _chunk;
    private int _chunkUsed;

    public RaftTailCache(long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        _maxBytes = maxBytes;
    }

    /// <summary>The log end offset the cache ends at (-1: empty).</summary>
    public long End { get; private set; } = -1;

    /// <summary>The first cached offset (-1: empty).</summary>
    public long Start => Count == 0 ? -1 : _entries[_head].BaseOffset;

    public int BatchCount => Count;

    private int Count => _entries.Count - _head;

    /// <summary>Forgets everything; later batches go to a fresh chunk (bytes handed out stay as they are).</summary>
    public void Clear()
    {
        _entries.Clear();
        _head = 0;
        _bytes = 0;
        _chunk = null;
        _chunkUsed = 0;
        End = -1;
    }

    /// <summary>
    /// Records <paramref name="batches"/> (whole v2 batches) as just appended, the log now ending at
    /// <paramref name="logEnd"/>. When <paramref name="assignFrom"/> is given, the copy gets the offsets
    /// and partition leader epoch the log gave the batches (as <see cref="Fjord.Storage.PartitionLog.AppendAsLeader"/>
    /// does); otherwise the batches already carry them. A batch that does not continue the cache, or
    /// bytes that do not end at <paramref name="logEnd"/>, reset the cache to what can be trusted.
    /// </summary>
    public void Append(ReadOnlySpan<byte> batches, long logEnd, (long FirstOffset, int Epoch)? assignFrom)
    {
        if (batches.IsEmpty) return;
        var target = Reserve(batches.Length);
        batches.CopyTo(target.AsSpan(_chunkUsed, batches.Length));
        var copy = target.AsSpan(_chunkUsed, batches.Length);
        if (assignFrom is { } assign) RecordBatchRewriter.AssignOffsets(copy, assign.FirstOffset, assign.Epoch);
        var found = new List<Entry>(1);
        var reader = new RecordBatchReader(target.AsMemory(_chunkUsed, batches.Length));
        int at = 0;
        while (reader.MoveNext())
        {
            var batch = reader.Current;
            found.Add(new Entry(batch.BaseOffset, batch.LastOffset, target, _chunkUsed + at, batch.SizeInBytes));
            at = reader.Position;
        }
        _chunkUsed += batches.Length;
        if (found.Count == 0 || found[^1].LastOffset + 1 != logEnd)
        {
            Clear(); // not what the log says it holds: trust nothing
            return;
        }
        if (End != found[0].BaseOffset) ClearEntries(); // does not continue what is cached
        foreach (var entry in found)
        {
            _entries.Add(entry);
            _bytes += entry.Length;
        }
        End = logEnd;
        while (_bytes > _maxBytes && Count > 1) _bytes -= _entries[_head++].Length;
        Compact();
    }

    private void Compact()
    {
        if (_head > 256 && _head * 2 > _entries.Count)
        {
            _entries.RemoveRange(0, _head);
            _head = 0;
        }
    }

    private void ClearEntries()
    {
        _entries.Clear();
        _head = 0;
        _bytes = 0;
        End = -1;
    }

    /// <summary>A chunk with room for <paramref name="length"/> bytes at <see cref="_chunkUsed"/>.</summary>
    private byte[] Reserve(int length)
    {
        if (_chunk is null || _chunk.Length - _chunkUsed < length)
        {
            _chunk = new byte[Math.Max(ChunkBytes, length)];
            _chunkUsed = 0;
        }
        return _chunk;
    }

    /// <summary>Drops the batches below <paramref name="startOffset"/> (the log start moved).</summary>
    public void DropBelow(long startOffset)
    {
        while (Count > 0 && _entries[_head].BaseOffset < startOffset) _bytes -= _entries[_head++].Length;
        if (Count == 0) ClearEntries();
        else Compact();
    }

    /// <summary>
    /// As <see cref="Fjord.Storage.PartitionLog.Read"/> with minOneBatch: whole batches from the one holding
    /// <paramref name="startOffset"/>, at most <paramref name="maxBytes"/> (at least one), none ending
    /// at or past <paramref name="endOffsetExclusive"/>. Null when the cache cannot answer (the caller
    /// reads the file): empty cache, a start outside it, or a log that no longer ends at <see cref="End"/>.
    /// </summary>
    public ReadOnlyMemory<byte>? Read(long startOffset, int maxBytes, long endOffsetExclusive, long logEnd)
    {
        if (Count == 0 || logEnd != End || startOffset < Start || startOffset >= End) return null;
        int first = FindBatch(startOffset);
        var head = _entries[first];
        if (head.LastOffset >= endOffsetExclusive) return ReadOnlyMemory<byte>.Empty;
        int last = first;
        long total = head.Length;
        bool contiguous = true;
        while (last + 1 < _entries.Count)
        {
            var next = _entries[last + 1];
            if (next.LastOffset >= endOffsetExclusive || total + next.Length > maxBytes) break;
            var previous = _entries[last];
            contiguous &= next.Chunk == previous.Chunk && next.Position == previous.Position + previous.Length;
            total += next.Length;
            last++;
        }
        if (contiguous) return head.Chunk.AsMemory(head.Position, (int)total);
        var bytes = new byte[total];
        int written = 0;
        for (int i = first; i <= last; i++)
        {
            var e = _entries[i];
            e.Chunk.AsSpan(e.Position, e.Length).CopyTo(bytes.AsSpan(written));
            written += e.Length;
        }
        return bytes;
    }

    /// <summary>Index in <see cref="_entries"/> of the batch holding <paramref name="offset"/> (which lies in the cache).</summary>
    private int FindBatch(long offset)
    {
        int low = _head, high = _entries.Count - 1;
        while (low < high)
        {
            int mid = (low + high) >>> 1;
            if (_entries[mid].LastOffset < offset) low = mid + 1;
            else high = mid;
        }
        return low;
    }
}
