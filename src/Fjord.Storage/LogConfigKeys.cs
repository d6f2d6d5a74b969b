using System.Globalization;
using Fjord.Protocol.Records;

namespace Fjord.Storage;

/// <summary>Kafka's topic-config keys for <see cref="LogConfig"/>, and their parsing.</summary>
public static class LogConfigKeys
{
    public const string SegmentBytes = "segment.bytes";
    public const string SegmentMs = "segment.ms";
    public const string IndexIntervalBytes = "index.interval.bytes";
    public const string MaxMessageBytes = "max.message.bytes";
    public const string FlushMessages = "flush.messages";
    public const string FlushMs = "flush.ms";
    public const string RetentionMs = "retention.ms";
    public const string RetentionBytes = "retention.bytes";
    public const string CleanupPolicy = "cleanup.policy";
    public const string DeleteRetentionMs = "delete.retention.ms";
    public const string MinCompactionLagMs = "min.compaction.lag.ms";
    public const string MessageTimestampType = "message.timestamp.type";
    public const string FileDeleteDelayMs = "file.delete.delay.ms";
    public const string MinCleanableDirtyRatio = "min.cleanable.dirty.ratio";

    /// <summary>The smallest segment.bytes Kafka has accepted (a legacy v0 record's overhead).</summary>
    public const int MinSegmentBytes = 14;

    public static readonly IReadOnlyList<string> All =
    [
        SegmentBytes, SegmentMs, IndexIntervalBytes, MaxMessageBytes, FlushMessages, FlushMs, RetentionMs, RetentionBytes,
        CleanupPolicy, DeleteRetentionMs, MinCompactionLagMs, MessageTimestampType, FileDeleteDelayMs, MinCleanableDirtyRatio,
    ];

    internal static LogConfig Apply(LogConfig config, IReadOnlyDictionary<string, string> properties)
    {
        foreach (var (key, raw) in properties)
        {
            var value = raw.Trim();
            config = key switch
            {
                SegmentBytes => config with { SegmentBytes = ParseInt(key, value) },
                SegmentMs => config with { SegmentMs = ParseLong(key, value) },
                IndexIntervalBytes => config with { IndexIntervalBytes = ParseInt(key, value) },
                MaxMessageBytes => config with { MaxMessageBytes = ParseInt(key, value) },
                FlushMessages => config with { FlushMessages = ParseLong(key, value) },
                FlushMs => config with { FlushMs = ParseLong(key, value) },
                RetentionMs => config with { RetentionMs = ParseLong(key, value) },
                RetentionBytes => config with { RetentionBytes = ParseLong(key, value) },
                CleanupPolicy => config with { CleanupPolicy = ParseCleanupPolicy(value) },
                DeleteRetentionMs => config with { DeleteRetentionMs = ParseLong(key, value) },
                MinCompactionLagMs => config with { MinCompactionLagMs = ParseLong(key, value) },
                MessageTimestampType => config with { MessageTimestampType = ParseTimestampType(value) },
                FileDeleteDelayMs => config with { FileDeleteDelayMs = ParseLong(key, value) },
                MinCleanableDirtyRatio => config with { MinCleanableDirtyRatio = ParseDouble(key, value) },
                _ => config,
            };
        }
        return config;
    }

    internal static void Check(bool valid, string key, object value, string expectation)
    {
        if (!valid) throw new ArgumentException($"invalid value '{value}' for {key}: must be {expectation}", key);
    }

    private static int ParseInt(string key, string value) =>
        int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int parsed)
            ? parsed
            : throw new ArgumentException($"invalid value '{value}' for {key}: not a 32-bit integer", key);

    private static long ParseLong(string key, string value) =>
        long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long parsed)
            ? parsed
            : throw new ArgumentException($"invalid value '{value}' for {key}: not a 64-bit integer", key);

    private static double ParseDouble(string key, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) && double.IsFinite(parsed)
            ? parsed
            : throw new ArgumentException($"invalid value '{value}' for {key}: not a number", key);

    /// <summary>A comma-separated list of <c>delete</c> and <c>compact</c> (Kafka's list syntax).</summary>
    private static CleanupPolicy ParseCleanupPolicy(string value)
    {
        CleanupPolicy policy = 0;
        foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            policy |= part switch
            {
                "delete" => Storage.CleanupPolicy.Delete,
                "compact" => Storage.CleanupPolicy.Compact,
                _ => throw new ArgumentException($"invalid value '{value}' for {CleanupPolicy}: '{part}' is not delete or compact", CleanupPolicy),
            };
        }
        if (policy == 0) throw new ArgumentException($"invalid value '{value}' for {CleanupPolicy}: must name delete, compact or both", CleanupPolicy);
        return policy;
    }

    private static TimestampType ParseTimestampType(string value) => value switch
    {
        "CreateTime" => TimestampType.CreateTime,
        "LogAppendTime" => TimestampType.LogAppendTime,
        _ => throw new ArgumentException($"invalid value '{value}' for {MessageTimestampType}: must be CreateTime or LogAppendTime", MessageTimestampType),
    };
}
