using Fjord.Protocol.Compression;

namespace Fjord.Protocol.Records;

/// <summary>
/// Reads a legacy (magic 0/1) message set, unwrapping compressed wrapper messages into their inner
/// messages, and yields each as a <see cref="LegacyRecord"/> with its absolute offset and effective
/// timestamp. For magic 1 wrappers inner offsets are relative: absolute = wrapper offset − last
/// inner offset + inner offset (left as written when that base would be negative, as Kafka does).
/// Under LogAppendTime inner messages take the wrapper's timestamp.
/// </summary>
/// <remarks>
/// Rules enforced: inner messages must not be compressed and must have the wrapper's magic; a
/// wrapper must hold at least one message; zstd needs magic 2. Inflated bytes live in one pooled
/// buffer reused per wrapper: records from a wrapper are valid until the next wrapper is read or
/// the reader is disposed. A partial final entry is tolerated only with <c>allowTruncatedTail</c>.
/// </remarks>
public sealed class LegacyMessageSetReader : IDisposable
{
    private readonly ReadOnlyMemory<byte> _buffer;
    private readonly int _maxDecompressedBytes;
    private readonly bool _allowTruncatedTail, _verifyCrc;
    private PooledBufferWriter? _inflated;
    private int _position;

    private ReadOnlyMemory<byte> _inner;
    private int _innerPosition;
    private bool _inInner;
    private LegacyMessage _wrapper;
    private long _absoluteBase;

    public LegacyMessageSetReader(ReadOnlyMemory<byte> buffer, int maxDecompressedBytes, bool allowTruncatedTail = false, bool verifyCrc = true)
    {
        _buffer = buffer;
        _maxDecompressedBytes = maxDecompressedBytes;
        _allowTruncatedTail = allowTruncatedTail;
        _verifyCrc = verifyCrc;
    }

    public LegacyRecord Current { get; private set; }

    /// <summary>Bytes of a partial final entry that was skipped (0 when none).</summary>
    public int TruncatedTailBytes { get; private set; }
    public bool HasTruncatedTail => TruncatedTailBytes > 0;

    public LegacyMessageSetReader GetEnumerator() => this;

    public bool MoveNext()
    {
        if (_inInner)
        {
            if (_innerPosition < _inner.Length) return ReadInner();
            _inInner = false;
        }
        if (_position >= _buffer.Length || TruncatedTailBytes > 0) return false;
        if (!LegacyMessage.TryRead(_buffer, _position, _verifyCrc, out var message))
        {
            int remaining = _buffer.Length - _position;
            if (!_allowTruncatedTail)
                throw new ProtocolDecodeException("LegacyMessage.MessageSize", $"entry at {_position} is truncated: only {remaining} bytes remain");
            TruncatedTailBytes = remaining;
            return false;
        }
        _position += message.SizeInBytes;
        if (message.Compression == CompressionType.None)
        {
            Current = new LegacyRecord(message, message.Offset, message.Timestamp, message.TimestampType, CompressionType.None);
            return true;
        }
        OpenWrapper(message);
        return ReadInner();
    }

    private void OpenWrapper(LegacyMessage wrapper)
    {
        var codec = wrapper.Compression switch
        {
            CompressionType.Zstd => throw new ProtocolDecodeException("LegacyMessage.Attributes", "zstd compression needs magic 2"),
            CompressionType.Lz4 when wrapper.Magic == 0 => Lz4Codec.LegacyKafka08,
            var type when CompressionCodecs.TryGet((int)type, out var known) => known,
            var type => throw new ProtocolDecodeException("LegacyMessage.Attributes", $"unknown compression codec id {(int)type}"),
        };
        if (!wrapper.HasValue) throw new ProtocolDecodeException("LegacyMessage.Value", "a compressed wrapper has a null value");
        _inflated ??= new PooledBufferWriter();
        _inflated.Clear();
        codec.Decompress(wrapper.Value.Span, _inflated, _maxDecompressedBytes);
        _inner = _inflated.WrittenMemory;
        if (_inner.IsEmpty) throw new ProtocolDecodeException("LegacyMessage.Value", "compressed wrapper holds no messages");
        _wrapper = wrapper;
        _innerPosition = 0;
        _inInner = true;
        _absoluteBase = -1;
        if (wrapper.Magic > 0)
        {
            long lastInnerOffset = LastInnerOffset(_inner);
            long absoluteBase = wrapper.Offset - lastInnerOffset;
            if (absoluteBase >= 0) _absoluteBase = absoluteBase;
        }
    }

    /// <summary>Walks the inner set's framing (each entry fully checked later) for its last offset.</summary>
    private static long LastInnerOffset(ReadOnlyMemory<byte> inner)
    {
        int position = 0;
        long last = 0;
        while (position < inner.Length)
        {
            if (!LegacyMessage.TryRead(inner, position, verifyCrc: false, out var message))
                throw new ProtocolDecodeException("LegacyMessage.MessageSize", $"inner entry at {position} is truncated");
            last = message.Offset;
            position += message.SizeInBytes;
        }
        return last;
    }

    private bool ReadInner()
    {
        if (!LegacyMessage.TryRead(_inner, _innerPosition, _verifyCrc, out var message))
            throw new ProtocolDecodeException("LegacyMessage.MessageSize", $"inner entry at {_innerPosition} is truncated");
        if (message.Magic != _wrapper.Magic)
            throw new ProtocolDecodeException("LegacyMessage.Magic", $"inner magic {message.Magic} differs from wrapper magic {_wrapper.Magic}");
        if (message.Compression != CompressionType.None)
            throw new ProtocolDecodeException("LegacyMessage.Attributes", "inner messages must not be compressed");
        _innerPosition += message.SizeInBytes;
        long offset = _absoluteBase >= 0 ? _absoluteBase + message.Offset : message.Offset;
        var type = _wrapper.Magic == 0 ? TimestampType.NoTimestampType : _wrapper.TimestampType;
        long timestamp = type == TimestampType.LogAppendTime ? _wrapper.Timestamp : message.Timestamp;
        Current = new LegacyRecord(message, offset, timestamp, type, _wrapper.Compression);
        return true;
    }

    public void Dispose()
    {
        _inflated?.Dispose();
        _inflated = null;
        _inner = default;
        _inInner = false;
    }
}
