using Fjord.Protocol.Records;

namespace Fjord.Storage.Tests.Log;

public sealed class LogConfigTests
{
    [Fact]
    public void Defaults_are_kafkas()
    {
        var c = LogConfig.Default;
        Assert.Equal(1 << 30, c.SegmentBytes);
        Assert.Equal(7L * 24 * 3600 * 1000, c.SegmentMs);
        Assert.Equal(4096, c.IndexIntervalBytes);
        Assert.Equal(1048588, c.MaxMessageBytes);
        Assert.Equal(long.MaxValue, c.FlushMessages);
        Assert.Equal(long.MaxValue, c.FlushMs);
        Assert.Equal(7L * 24 * 3600 * 1000, c.RetentionMs);
        Assert.Equal(-1, c.RetentionBytes);
        Assert.Equal(CleanupPolicy.Delete, c.CleanupPolicy);
        Assert.Equal(24L * 3600 * 1000, c.DeleteRetentionMs);
        Assert.Equal(0, c.MinCompactionLagMs);
        Assert.Equal(TimestampType.CreateTime, c.MessageTimestampType);
        Assert.Equal(60000, c.FileDeleteDelayMs);
        Assert.Equal(0.5, c.MinCleanableDirtyRatio);
    }

    [Fact]
    public void Every_key_is_read()
    {
        var c = LogConfig.FromProperties(new Dictionary<string, string>
        {
            ["segment.bytes"] = "1000",
            ["segment.ms"] = "2000",
            ["index.interval.bytes"] = "30",
            ["max.message.bytes"] = "400",
            ["flush.messages"] = "5",
            ["flush.ms"] = "600",
            ["retention.ms"] = "-1",
            ["retention.bytes"] = "8000",
            ["cleanup.policy"] = "compact, delete",
            ["delete.retention.ms"] = "900",
            ["min.compaction.lag.ms"] = "10",
            ["message.timestamp.type"] = "LogAppendTime",
            ["file.delete.delay.ms"] = "0",
            ["min.cleanable.dirty.ratio"] = "0.25",
            ["compression.type"] = "zstd",
        });
        Assert.Equal(new LogConfig
        {
            SegmentBytes = 1000, SegmentMs = 2000, IndexIntervalBytes = 30, MaxMessageBytes = 400, FlushMessages = 5, FlushMs = 600,
            RetentionMs = -1, RetentionBytes = 8000, CleanupPolicy = CleanupPolicy.Compact | CleanupPolicy.Delete, DeleteRetentionMs = 900,
            MinCompactionLagMs = 10, MessageTimestampType = TimestampType.LogAppendTime, FileDeleteDelayMs = 0, MinCleanableDirtyRatio = 0.25,
        }, c);
        Assert.Equal(14, LogConfigKeys.All.Count);
    }

    [Fact]
    public void Properties_override_the_given_defaults_only()
    {
        var defaults = new LogConfig { SegmentBytes = 5000 };
        var c = LogConfig.FromProperties(new Dictionary<string, string> { ["retention.ms"] = "10" }, defaults);
        Assert.Equal(5000, c.SegmentBytes);
        Assert.Equal(10, c.RetentionMs);
    }

    [Theory]
    [InlineData("segment.bytes", "10")]
    [InlineData("segment.bytes", "lots")]
    [InlineData("segment.ms", "0")]
    [InlineData("index.interval.bytes", "-1")]
    [InlineData("max.message.bytes", "-5")]
    [InlineData("flush.messages", "0")]
    [InlineData("flush.ms", "-1")]
    [InlineData("retention.ms", "-2")]
    [InlineData("retention.bytes", "1.5")]
    [InlineData("cleanup.policy", "remove")]
    [InlineData("cleanup.policy", "")]
    [InlineData("delete.retention.ms", "-1")]
    [InlineData("min.compaction.lag.ms", "-1")]
    [InlineData("message.timestamp.type", "NoTimestampType")]
    [InlineData("file.delete.delay.ms", "-3")]
    [InlineData("min.cleanable.dirty.ratio", "1.5")]
    [InlineData("min.cleanable.dirty.ratio", "NaN")]
    public void Invalid_values_name_the_key(string key, string value)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => LogConfig.FromProperties(new Dictionary<string, string> { [key] = value }));
        Assert.Contains(key, e.Message);
        Assert.Equal(key, e.ParamName);
    }

    [Fact]
    public void Validate_checks_records_built_in_code()
    {
        var e = Assert.Throws<ArgumentException>(() => new LogConfig { SegmentBytes = 0 }.Validate());
        Assert.Contains("segment.bytes", e.Message);
        Assert.Throws<ArgumentException>(() => new LogConfig { CleanupPolicy = 0 }.Validate());
    }
}
