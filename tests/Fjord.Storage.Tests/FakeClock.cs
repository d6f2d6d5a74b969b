using Fjord.Common;

namespace Fjord.Storage.Tests;

/// <summary>A clock that moves only when a test says so. Both readings advance together.</summary>
public sealed class FakeClock(long unixTimeMs = 1_700_000_000_000) : IClock
{
    public long UnixTimeMs { get; private set; } = unixTimeMs;
    public long MonotonicMs { get; private set; } = 1_000;

    public void Advance(long ms)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ms);
        UnixTimeMs += ms;
        MonotonicMs += ms;
    }
}
