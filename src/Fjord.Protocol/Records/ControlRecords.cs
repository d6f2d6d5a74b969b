using System.Buffers.Binary;

namespace Fjord.Protocol.Records;

/// <summary>The type in a control record's key. Values outside this list may appear (newer
/// brokers) and are kept as their number.</summary>
public enum ControlRecordType : short
{
    Abort = 0,
    Commit = 1,
    LeaderChange = 2,
    SnapshotHeader = 3,
    SnapshotFooter = 4,
    KRaftVersion = 5,
    KRaftVoters = 6,
}

/// <summary>
/// The key of every record in a control batch: int16 version (0 today), int16 type, big-endian.
/// Readers accept newer versions (extra bytes are ignored) as Kafka does; a negative version or
/// fewer than 4 bytes is an error.
/// </summary>
public readonly record struct ControlRecordKey(short Version, ControlRecordType Type)
{
    public const int Size = 4;
    public const short CurrentVersion = 0;

    public ControlRecordKey(ControlRecordType type) : this(CurrentVersion, type) { }

    public static ControlRecordKey Read(ReadOnlySpan<byte> key)
    {
        if (key.Length < Size)
            throw new ProtocolDecodeException("ControlRecordKey", $"{key.Length} bytes cannot hold the {Size}-byte key");
        short version = BinaryPrimitives.ReadInt16BigEndian(key);
        if (version < 0) throw new ProtocolDecodeException("ControlRecordKey.Version", $"negative version {version}");
        return new ControlRecordKey(version, (ControlRecordType)BinaryPrimitives.ReadInt16BigEndian(key[2..]));
    }

    public void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteInt16BigEndian(destination, Version);
        BinaryPrimitives.WriteInt16BigEndian(destination[2..], (short)Type);
    }

    public byte[] ToArray()
    {
        var bytes = new byte[Size];
        Write(bytes);
        return bytes;
    }
}

/// <summary>
/// The value of an ABORT or COMMIT control record: int16 version (0), int32 coordinatorEpoch.
/// </summary>
public readonly record struct EndTransactionMarker(ControlRecordType Type, int CoordinatorEpoch)
{
    public const int Size = 6;
    public const short CurrentVersion = 0;

    public bool IsCommit => Type == ControlRecordType.Commit;

    public static EndTransactionMarker Read(ControlRecordType type, ReadOnlySpan<byte> value)
    {
        if (type is not (ControlRecordType.Abort or ControlRecordType.Commit))
            throw new ProtocolDecodeException("EndTransactionMarker", $"control type {(short)type} is not a transaction marker");
        if (value.Length < Size)
            throw new ProtocolDecodeException("EndTransactionMarker", $"{value.Length} bytes cannot hold the {Size}-byte value");
        short version = BinaryPrimitives.ReadInt16BigEndian(value);
        if (version < 0) throw new ProtocolDecodeException("EndTransactionMarker.Version", $"negative version {version}");
        return new EndTransactionMarker(type, BinaryPrimitives.ReadInt32BigEndian(value[2..]));
    }

    public byte[] ValueToArray()
    {
        var bytes = new byte[Size];
        BinaryPrimitives.WriteInt16BigEndian(bytes, CurrentVersion);
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(2), CoordinatorEpoch);
        return bytes;
    }

    /// <summary>
    /// Builds the one-record control batch a transaction coordinator writes to end a transaction:
    /// transactional + control flags, the producer's id and epoch, no sequence.
    /// </summary>
    public static byte[] BuildBatch(bool commit, int coordinatorEpoch, long producerId, short producerEpoch,
        long timestampMs, long baseOffset = 0, int partitionLeaderEpoch = RecordBatchLayout.NoPartitionLeaderEpoch)
    {
        var type = commit ? ControlRecordType.Commit : ControlRecordType.Abort;
        using var builder = new RecordBatchBuilder(new RecordBatchOptions
        {
            BaseOffset = baseOffset,
            PartitionLeaderEpoch = partitionLeaderEpoch,
            ProducerId = producerId,
            ProducerEpoch = producerEpoch,
            IsTransactional = true,
            IsControl = true,
        });
        builder.Append(timestampMs, new ControlRecordKey(type).ToArray(), new EndTransactionMarker(type, coordinatorEpoch).ValueToArray());
        return builder.ToArray();
    }
}
