namespace Fjord.Storage;

/// <summary>
/// How often <see cref="LogManager.RunMaintenance"/> writes each checkpoint, and how many logs are
/// opened (recovered) at once on start. Defaults are Kafka's broker defaults.
/// </summary>
public sealed record LogManagerOptions
{
    public static readonly LogManagerOptions Default = new();

    /// <summary>log.flush.offset.checkpoint.interval.ms: how often recovery points are checkpointed.</summary>
    public long RecoveryPointCheckpointIntervalMs { get; init; } = 60_000;

    /// <summary>log.flush.start.offset.checkpoint.interval.ms: how often log start offsets are checkpointed.</summary>
    public long LogStartOffsetCheckpointIntervalMs { get; init; } = 60_000;

    /// <summary>Logs opened in parallel on start (across all directories); defaults to the core count.</summary>
    public int RecoveryParallelism { get; init; } = Environment.ProcessorCount;

    public LogManagerOptions Validate()
    {
        if (RecoveryPointCheckpointIntervalMs < 0) throw new ArgumentException($"RecoveryPointCheckpointIntervalMs {RecoveryPointCheckpointIntervalMs} is negative");
        if (LogStartOffsetCheckpointIntervalMs < 0) throw new ArgumentException($"LogStartOffsetCheckpointIntervalMs {LogStartOffsetCheckpointIntervalMs} is negative");
        if (RecoveryParallelism < 1) throw new ArgumentException($"RecoveryParallelism {RecoveryParallelism} must be at least 1");
        return this;
    }
}
