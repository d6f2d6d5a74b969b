namespace Fjord.Cli.Perf;

/// <summary>
/// A thread-safe log-linear histogram of latencies in microseconds: exact below 1,024 µs, then 512
/// sub-buckets per power of two (relative error below 0.2 %), up to 2^40 µs. Recording is one
/// Interlocked increment; percentiles walk the buckets. Fixed size (about 128 KiB), never grows.
/// </summary>
public sealed class LatencyHistogram
{
    private const int SubBits = 9;               // 512 sub-buckets per octave above 1,024
    private const int Linear = 1 << (SubBits + 1); // values below 1,024 are exact
    private const int Octaves = 31;
    private readonly long[] _counts = new long[Linear + Octaves * (1 << SubBits)];
    private long _count, _sum, _max;

    public long Count => Interlocked.Read(ref _count);
    public long MaxMicros => Interlocked.Read(ref _max);
    public double MeanMicros => Count == 0 ? 0 : (double)Interlocked.Read(ref _sum) / Count;

    public void Record(long micros)
    {
        if (micros < 0) micros = 0;
        Interlocked.Increment(ref _counts[Index(micros)]);
        Interlocked.Increment(ref _count);
        Interlocked.Add(ref _sum, micros);
        long max;
        while (micros > (max = Interlocked.Read(ref _max)) && Interlocked.CompareExchange(ref _max, micros, max) != max) { }
    }

    private int Index(long v)
    {
        if (v < Linear) return (int)v;
        int exponent = 63 - (int)long.LeadingZeroCount(v) - SubBits; // ≥ 1
        int index = Linear + (exponent - 1) * (1 << SubBits) + (int)((v >> exponent) - (1 << SubBits));
        return Math.Min(index, _counts.Length - 1);
    }

    private static long LowerBound(int index)
    {
        if (index < Linear) return index;
        int exponent = (index - Linear) / (1 << SubBits) + 1;
        long sub = (index - Linear) % (1 << SubBits) + (1 << SubBits);
        return sub << exponent;
    }

    /// <summary>The value (µs, a bucket's lower bound) at or below which <paramref name="percentile"/> % of the samples lie.</summary>
    public long PercentileMicros(double percentile)
    {
        long total = Count;
        if (total == 0) return 0;
        long rank = Math.Max(1, (long)Math.Ceiling(total * percentile / 100.0));
        long seen = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            seen += Interlocked.Read(ref _counts[i]);
            if (seen >= rank) return Math.Min(LowerBound(i), MaxMicros);
        }
        return MaxMicros;
    }
}
