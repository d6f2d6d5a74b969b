using System.Buffers.Binary;
using Fjord.Protocol.Compression;

namespace Fjord.Protocol.Records;

/// <summary>
/// A read-only view of one v2 record batch over exactly its bytes (<see cref="Bytes"/> =
/// 12 + batchLength when valid). Header properties read straight from the buffer; nothing is
/// copied. Construction only checks that the 61-byte header is present: call <see cref="Validate"/>
/// before trusting anything else. Records come from <see cref="OpenRecords"/>.
/// </summary>
public readonly partial struct RecordBatch
{
    public RecordBatch(ReadOnlyMemory<byte> bytes)
    {
        if (bytes.Length < RecordBatchLayout.HeaderSize)
            throw new ProtocolDecodeException("RecordBatch", $"{bytes.Length} bytes cannot hold the {RecordBatchLayout.HeaderSize}-byte batch header");
        Bytes = bytes;
    }

    public ReadOnlyMemory<byte> Bytes { get; }
    private ReadOnlySpan<byte> Span => Bytes.Span;

    public int SizeInBytes => Bytes.Length;
    public long BaseOffset => BinaryPrimitives.ReadInt64BigEndian(Span[RecordBatchLayout.BaseOffset..]);
    public int BatchLength => BinaryPrimitives.ReadInt32BigEndian(Span[RecordBatchLayout.BatchLength..]);
    public int PartitionLeaderEpoch => BinaryPrimitives.ReadInt32BigEndian(Span[RecordBatchLayout.PartitionLeaderEpoch..]);
    public sbyte Magic => (sbyte)Span[RecordBatchLayout.Magic];
    public uint Crc => BinaryPrimitives.ReadUInt32BigEndian(Span[RecordBatchLayout.Crc..]);
    public BatchAttributes Attributes => new(BinaryPrimitives.ReadInt16BigEndian(Span[RecordBatchLayout.Attributes..]));
    public CompressionType Compression => Attributes.Compression;
    public TimestampType TimestampType => Attributes.TimestampType;
    public bool IsTransactional => Attributes.IsTransactional;
    public bool IsControl => Attributes.IsControl;
    public bool HasDeleteHorizonMs => Attributes.HasDeleteHorizonMs;
    public int LastOffsetDelta => BinaryPrimitives.ReadInt32BigEndian(Span[RecordBatchLayout.LastOffsetDelta..]);
    public long LastOffset => BaseOffset + LastOffsetDelta;

    /// <summary>The first record's timestamp (or the delete horizon when <see cref="HasDeleteHorizonMs"/>).</summary>
    public long BaseTimestamp => BinaryPrimitives.ReadInt64BigEndian(Span[RecordBatchLayout.BaseTimestamp..]);
    public long MaxTimestamp => BinaryPrimitives.ReadInt64BigEndian(Span[RecordBatchLayout.MaxTimestamp..]);
    public long ProducerId => BinaryPrimitives.ReadInt64BigEndian(Span[RecordBatchLayout.ProducerId..]);
    public short ProducerEpoch => BinaryPrimitives.ReadInt16BigEndian(Span[RecordBatchLayout.ProducerEpoch..]);
    public int BaseSequence => BinaryPrimitives.ReadInt32BigEndian(Span[RecordBatchLayout.BaseSequence..]);
    public int RecordCount => BinaryPrimitives.ReadInt32BigEndian(Span[RecordBatchLayout.RecordsCount..]);

    /// <summary>The delete horizon, or null when the batch carries none.</summary>
    public long? DeleteHorizonMs => HasDeleteHorizonMs ? BaseTimestamp : null;

    /// <summary>baseSequence + lastOffsetDelta, wrapping past int.MaxValue as Kafka does.</summary>
    public int LastSequence
    {
        get
        {
            int baseSequence = BaseSequence;
            if (baseSequence == RecordBatchLayout.NoSequence) return RecordBatchLayout.NoSequence;
            int delta = LastOffsetDelta;
            return baseSequence > int.MaxValue - delta ? delta - (int.MaxValue - baseSequence) - 1 : baseSequence + delta;
        }
    }

    /// <summary>The bytes after the header: records, or the compressed records.</summary>
    public ReadOnlyMemory<byte> RecordsPayload => Bytes[RecordBatchLayout.Records..];

    public uint ComputeCrc() => Crc32C.Compute(Span[RecordBatchLayout.Attributes..]);
    public bool IsCrcValid => ComputeCrc() == Crc;

    public override string ToString() =>
        $"RecordBatch(offsets=[{BaseOffset}, {LastOffset}], count={RecordCount}, magic={Magic}, compression={Compression}, " +
        $"timestampType={TimestampType}, transactional={IsTransactional}, control={IsControl}, producerId={ProducerId}, " +
        $"epoch={ProducerEpoch}, baseSequence={BaseSequence}, size={SizeInBytes})";
}
