namespace Fjord.Network;

/// <summary>A snapshot of the server's counters (cumulative since start, except <see cref="OpenConnections"/>).</summary>
public sealed record NetworkStats(
    int OpenConnections,
    long ConnectionsAccepted,
    long ConnectionsClosed,
    long BytesIn,
    long BytesOut,
    IReadOnlyDictionary<short, long> RequestsByApiKey)
{
    public long Requests(short apiKey) => RequestsByApiKey.TryGetValue(apiKey, out var n) ? n : 0;
}

/// <summary>Plain Interlocked counters; <see cref="Snapshot"/> reads them without a lock (each value is
/// exact, the set is not one atomic cut).</summary>
internal sealed class NetworkCounters
{
    private const int KeySlots = 1024;
    private readonly long[] _requests = new long[KeySlots];
    private long _unknownKeyRequests;
    private int _open;
    private long _accepted;
    private long _closed;
    private long _bytesIn;
    private long _bytesOut;

    public void Opened() { Interlocked.Increment(ref _open); Interlocked.Increment(ref _accepted); }
    public void Closed() { Interlocked.Decrement(ref _open); Interlocked.Increment(ref _closed); }
    public void AddBytesIn(long n) { if (n != 0) Interlocked.Add(ref _bytesIn, n); }
    public void AddBytesOut(long n) { if (n != 0) Interlocked.Add(ref _bytesOut, n); }

    public void CountRequest(short apiKey)
    {
        if (apiKey >= 0 && apiKey < KeySlots) Interlocked.Increment(ref _requests[apiKey]);
        else Interlocked.Increment(ref _unknownKeyRequests);
    }

    public NetworkStats Snapshot()
    {
        var byKey = new Dictionary<short, long>();
        for (short k = 0; k < KeySlots; k++)
        {
            long n = Volatile.Read(ref _requests[k]);
            if (n != 0) byKey[k] = n;
        }
        long unknown = Volatile.Read(ref _unknownKeyRequests);
        if (unknown != 0) byKey[-1] = unknown;
        return new NetworkStats(Volatile.Read(ref _open), Volatile.Read(ref _accepted), Volatile.Read(ref _closed),
            Volatile.Read(ref _bytesIn), Volatile.Read(ref _bytesOut), byKey);
    }
}
