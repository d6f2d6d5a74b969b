using Fjord.Protocol.Records;

namespace Fjord.Storage;

/// <summary>What happens to old segments: deleted by retention, compacted by key, or both.</summary>
[Flags]
public enum CleanupPolicy
{
    Delete = 1,
    Compact = 2,
}

/// <summary>
/// A partition log's topic-level settings. Property names follow Kafka's topic configs
/// (<c>segment.bytes</c> → <see cref="SegmentBytes"/>) and defaults are Kafka's. Immutable: a config
/// change swaps the whole record (<see cref="PartitionLog.Config"/>). <see cref="FromProperties"/>
/// reads Kafka's keys; <see cref="Validate"/> checks a record built in code.
/// </summary>
public sealed record LogConfig
{
    public const long OneDayMs = 24L * 60 * 60 * 1000;

    public static readonly LogConfig Default = new();

    /// <summary>segment.bytes: a segment is rolled before it would grow past this.</summary>
    public int SegmentBytes { get; init; } = 1024 * 1024 * 1024;

    /// <summary>segment.ms: a segment is rolled once this long has passed since its first append.</summary>
    public long SegmentMs { get; init; } = 7 * OneDayMs;

    /// <summary>index.interval.bytes: log bytes between two offset-index entries.</summary>
    public int IndexIntervalBytes { get; init; } = 4096;

    /// <summary>max.message.bytes: the largest batch accepted (after compression).</summary>
    public int MaxMessageBytes { get; init; } = 1024 * 1024 + 12;

    /// <summary>flush.messages: fsync after this many appended messages (records).</summary>
    public long FlushMessages { get; init; } = long.MaxValue;

    /// <summary>flush.ms: fsync when an append finds this long has passed since the last flush.</summary>
    public long FlushMs { get; init; } = long.MaxValue;

    /// <summary>retention.ms: age after which closed segments are deleted; -1 keeps them forever.</summary>
    public long RetentionMs { get; init; } = 7 * OneDayMs;

    /// <summary>retention.bytes: size above which the oldest segments are deleted; -1 means no limit.</summary>
    public long RetentionBytes { get; init; } = -1;

    /// <summary>cleanup.policy: delete, compact, or both.</summary>
    public CleanupPolicy CleanupPolicy { get; init; } = CleanupPolicy.Delete;

    /// <summary>delete.retention.ms: how long compaction keeps tombstones.</summary>
    public long DeleteRetentionMs { get; init; } = OneDayMs;

    /// <summary>min.compaction.lag.ms: records younger than this are not compacted.</summary>
    public long MinCompactionLagMs { get; init; } = 0;

    /// <summary>message.timestamp.type: CreateTime keeps the producer's timestamps; LogAppendTime stamps the broker's clock.</summary>
    public TimestampType MessageTimestampType { get; init; } = TimestampType.CreateTime;

    /// <summary>file.delete.delay.ms: a deleted segment's files (renamed <c>.deleted</c>) stay open this long.</summary>
    public long FileDeleteDelayMs { get; init; } = 60_000;

    /// <summary>min.cleanable.dirty.ratio: the dirty share of a log above which the cleaner compacts it.</summary>
    public double MinCleanableDirtyRatio { get; init; } = 0.5;

    /// <summary>Throws <see cref="ArgumentException"/> naming the Kafka key of the first invalid value.</summary>
    public LogConfig Validate()
    {
        LogConfigKeys.Check(SegmentBytes >= LogConfigKeys.MinSegmentBytes, LogConfigKeys.SegmentBytes, SegmentBytes, $"at least {LogConfigKeys.MinSegmentBytes}");
        LogConfigKeys.Check(SegmentMs >= 1, LogConfigKeys.SegmentMs, SegmentMs, "at least 1");
        LogConfigKeys.Check(IndexIntervalBytes >= 0, LogConfigKeys.IndexIntervalBytes, IndexIntervalBytes, "at least 0");
        LogConfigKeys.Check(MaxMessageBytes >= 0, LogConfigKeys.MaxMessageBytes, MaxMessageBytes, "at least 0");
        LogConfigKeys.Check(FlushMessages >= 1, LogConfigKeys.FlushMessages, FlushMessages, "at least 1");
        LogConfigKeys.Check(FlushMs >= 0, LogConfigKeys.FlushMs, FlushMs, "at least 0");
        LogConfigKeys.Check(RetentionMs >= -1, LogConfigKeys.RetentionMs, RetentionMs, "at least -1");
        LogConfigKeys.Check(CleanupPolicy != 0 && (CleanupPolicy & ~(CleanupPolicy.Delete | CleanupPolicy.Compact)) == 0,
            LogConfigKeys.CleanupPolicy, CleanupPolicy, "delete, compact or both");
        LogConfigKeys.Check(DeleteRetentionMs >= 0, LogConfigKeys.DeleteRetentionMs, DeleteRetentionMs, "at least 0");
        LogConfigKeys.Check(MinCompactionLagMs >= 0, LogConfigKeys.MinCompactionLagMs, MinCompactionLagMs, "at least 0");
        LogConfigKeys.Check(MessageTimestampType is TimestampType.CreateTime or TimestampType.LogAppendTime,
            LogConfigKeys.MessageTimestampType, MessageTimestampType, "CreateTime or LogAppendTime");
        LogConfigKeys.Check(FileDeleteDelayMs >= 0, LogConfigKeys.FileDeleteDelayMs, FileDeleteDelayMs, "at least 0");
        LogConfigKeys.Check(MinCleanableDirtyRatio is >= 0 and <= 1, LogConfigKeys.MinCleanableDirtyRatio, MinCleanableDirtyRatio, "between 0 and 1");
        return this;
    }

    /// <summary>
    /// Builds a config from Kafka topic-config keys over <paramref name="defaults"/> (or Kafka's
    /// defaults). Keys this log does not use (compression.type, min.insync.replicas, …) are ignored;
    /// a value that does not parse or is out of range throws <see cref="ArgumentException"/> naming the key.
    /// </summary>
    public static LogConfig FromProperties(IReadOnlyDictionary<string, string> properties, LogConfig? defaults = null) =>
        LogConfigKeys.Apply(defaults ?? Default, properties).Validate();
}
