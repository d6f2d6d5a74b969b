namespace Fjord.Storage;

/// <summary>
/// Broker-level settings of a <see cref="LogCleaner"/> (Kafka's <c>log.cleaner.*</c> keys; the
/// topic-level ones are in <see cref="LogConfig"/>). Defaults are Kafka's where it has one.
/// </summary>
public sealed record CleanerOptions
{
    public static readonly CleanerOptions Default = new();

    /// <summary>log.cleaner.dedupe.buffer.size: memory of the key → offset map (24 bytes a slot).</summary>
    public long DedupeBufferBytes { get; init; } = 128L * 1024 * 1024;

    /// <summary>log.cleaner.io.buffer.load.factor: how full the map may get before a round stops indexing.</summary>
    public double DedupeBufferLoadFactor { get; init; } = 0.9;

    /// <summary>log.cleaner.io.buffer.size: the read buffer, and the output flushed to the cleaned segment at a time.</summary>
    public int IoBufferBytes { get; init; } = 512 * 1024;

    /// <summary>The largest batch the cleaner will read (it grows its buffer up to this); at least the
    /// topic's max.message.bytes is always allowed.</summary>
    public int MaxBatchBytes { get; init; } = 64 * 1024 * 1024;

    /// <summary>The most bytes a compressed batch may inflate to.</summary>
    public int MaxDecompressedBatchBytes { get; init; } = 128 * 1024 * 1024;

    public CleanerOptions Validate()
    {
        if (DedupeBufferBytes < OffsetMap.SlotBytes * 16L) throw new ArgumentException($"DedupeBufferBytes {DedupeBufferBytes} is below {OffsetMap.SlotBytes * 16}");
        if (DedupeBufferLoadFactor is <= 0 or >= 1) throw new ArgumentException($"DedupeBufferLoadFactor {DedupeBufferLoadFactor} is not in (0, 1)");
        if (IoBufferBytes < 1024) throw new ArgumentException($"IoBufferBytes {IoBufferBytes} is below 1024");
        if (MaxBatchBytes < 1024) throw new ArgumentException($"MaxBatchBytes {MaxBatchBytes} is below 1024");
        if (MaxDecompressedBatchBytes < 1024) throw new ArgumentException($"MaxDecompressedBatchBytes {MaxDecompressedBatchBytes} is below 1024");
        return this;
    }
}
