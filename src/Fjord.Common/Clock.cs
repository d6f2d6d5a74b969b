namespace Fjord.Common;

/// <summary>Time as components see it. Deterministic components (the Raft core) never read a
/// clock themselves; the code driving them passes <c>now</c> from one of these.</summary>
public interface IClock
{
    /// <summary>Wall-clock milliseconds since the Unix epoch (record timestamps, metrics).</summary>
    long UnixTimeMs { get; }

    /// <summary>A monotonic millisecond counter (timeouts, deadlines).</summary>
    long MonotonicMs { get; }
}

public sealed class SystemClock : IClock
{
    public static readonly SystemClock Instance = new();
    public long UnixTimeMs => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    public long MonotonicMs => Environment.TickCount64;
}
