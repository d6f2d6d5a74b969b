using Fjord.Protocol.Compression;

namespace Fjord.Protocol.Records;

/// <summary>
/// Batch-level settings for <see cref="RecordBatchBuilder"/>. Defaults describe a plain,
/// non-idempotent producer batch: offset 0, no producer id/epoch/sequence, CreateTime, no
/// compression, partition leader epoch -1.
/// </summary>
public readonly record struct RecordBatchOptions()
{
    public long BaseOffset { get; init; } = 0;
    public int PartitionLeaderEpoch { get; init; } = RecordBatchLayout.NoPartitionLeaderEpoch;
    public long ProducerId { get; init; } = RecordBatchLayout.NoProducerId;
    public short ProducerEpoch { get; init; } = RecordBatchLayout.NoProducerEpoch;
    public int BaseSequence { get; init; } = RecordBatchLayout.NoSequence;
    public bool IsTransactional { get; init; }
    public bool IsControl { get; init; }
    public CompressionType Compression { get; init; } = CompressionType.None;
    public TimestampType TimestampType { get; init; } = TimestampType.CreateTime;

    /// <summary>The broker's append time; required (and used as maxTimestamp) under LogAppendTime.</summary>
    public long? LogAppendTimeMs { get; init; }

    /// <summary>When set, the batch carries a delete horizon (attribute bit 6) in baseTimestamp and
    /// record timestamp deltas are relative to it.</summary>
    public long? DeleteHorizonMs { get; init; }

    /// <summary>The codec used; defaults to the registry's instance for <see cref="Compression"/>.</summary>
    public ICompressionCodec? Codec { get; init; }
}
