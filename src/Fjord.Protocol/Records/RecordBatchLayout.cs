namespace Fjord.Protocol.Records;

/// <summary>
/// Byte offsets of the record batch v2 header (all integers big-endian). The CRC covers
/// <see cref="Attributes"/> through the end of the batch, so <see cref="BaseOffset"/>,
/// <see cref="BatchLength"/> and <see cref="PartitionLeaderEpoch"/> can be rewritten without
/// recomputing it.
/// </summary>
public static class RecordBatchLayout
{
    public const int BaseOffset = 0;             // int64
    public const int BatchLength = 8;            // int32: bytes after this field
    public const int PartitionLeaderEpoch = 12;  // int32
    public const int Magic = 16;                 // int8
    public const int Crc = 17;                   // uint32, CRC-32C of [Attributes, end)
    public const int Attributes = 21;            // int16
    public const int LastOffsetDelta = 23;       // int32
    public const int BaseTimestamp = 27;         // int64
    public const int MaxTimestamp = 35;          // int64
    public const int ProducerId = 43;            // int64
    public const int ProducerEpoch = 51;         // int16
    public const int BaseSequence = 53;          // int32
    public const int RecordsCount = 57;          // int32
    public const int Records = 61;

    /// <summary>Size of the header before the first record.</summary>
    public const int HeaderSize = Records;

    /// <summary>baseOffset + batchLength: the bytes not counted by batchLength.</summary>
    public const int LogOverhead = 12;

    /// <summary>The smallest legal batchLength (a header with no records).</summary>
    public const int MinBatchLength = HeaderSize - LogOverhead;

    public const sbyte CurrentMagic = 2;

    /// <summary>The fewest bytes one encoded record can take: length, attributes, timestamp delta,
    /// offset delta, key length, value length and header count, one byte each.</summary>
    public const int MinRecordSize = 7;

    public const long NoTimestamp = -1;
    public const long NoProducerId = -1;
    public const short NoProducerEpoch = -1;
    public const int NoSequence = -1;
    public const int NoPartitionLeaderEpoch = -1;
}
