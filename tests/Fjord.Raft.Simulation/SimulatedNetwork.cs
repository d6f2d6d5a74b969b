using Fjord.Protocol;

namespace Fjord.Raft.Simulation;

/// <summary>
/// Delivers messages between simulated nodes after a random delay, so they arrive reordered; while
/// faults are on it also drops and duplicates them, and partitions cut pairs of nodes apart. Every
/// message is encoded and decoded with the real codec on the way, at its API's highest version.
/// The adversarial schedule also isolates single nodes and slows single directed links.
/// </summary>
internal sealed class SimulatedNetwork(Random random, FaultProfile faults)
{
    private readonly PriorityQueue<RaftMessage, (long At, long Sequence)> _inFlight = new();
    private readonly HashSet<(int, int)> _cut = [];
    private readonly Dictionary<(int, int), int> _slow = [];
    private long _sequence;

    public bool FaultsOn { get; set; } = true;
    public int Delivered { get; private set; }
    public int Dropped { get; private set; }

    public void Send(RaftMessage message, long now)
    {
        if (IsCut(message.Source, message.Destination)) { Dropped++; return; }
        if (FaultsOn && random.NextDouble() < faults.DropRate) { Dropped++; return; }
        int copies = FaultsOn && random.NextDouble() < faults.DuplicateRate ? 2 : 1;
        for (int i = 0; i < copies; i++)
            _inFlight.Enqueue(Testing.RaftCodec.ThroughCodec(message),
                (now + random.Next(faults.MinDelayMs, faults.MaxDelayMs + 1) + _slow.GetValueOrDefault((message.Source, message.Destination)), _sequence++));
    }

    public long NextDelivery => _inFlight.TryPeek(out _, out var key) ? key.At : long.MaxValue;

    /// <summary>The next message due at or before <paramref name="now"/>, unless its path was cut meanwhile.</summary>
    public RaftMessage? Next(long now)
    {
        while (_inFlight.TryPeek(out var message, out var key) && key.At <= now)
        {
            _inFlight.Dequeue();
            if (IsCut(message.Source, message.Destination)) { Dropped++; continue; }
            Delivered++;
            return message;
        }
        return null;
    }

    public void Partition(IReadOnlyCollection<int> side, IReadOnlyCollection<int> all)
    {
        foreach (var a in side)
            foreach (var b in all.Except(side))
            {
                _cut.Add((a, b));
                _cut.Add((b, a));
            }
    }

    /// <summary>Cuts <paramref name="node"/> off from every other node.</summary>
    public void Isolate(int node, IReadOnlyCollection<int> all) => Partition([node], all);

    /// <summary>Heals every cut (slow links stay).</summary>
    public void Heal() => _cut.Clear();

    /// <summary>Messages sent from <paramref name="from"/> to <paramref name="to"/> take <paramref name="extraMs"/> longer.</summary>
    public void Slow(int from, int to, int extraMs) => _slow[(from, to)] = extraMs;

    public void ClearSlowLinks() => _slow.Clear();

    private bool IsCut(int from, int to) => _cut.Contains((from, to));
}

/// <summary>How hostile the network and the machines are while faults are on.</summary>
internal sealed record FaultProfile(double DropRate, double DuplicateRate, int MinDelayMs, int MaxDelayMs, double CrashRatePerSecond,
    double PartitionRatePerSecond, int MaxClockSkewMs)
{
    public static FaultProfile For(Random random) => new(
        DropRate: random.NextDouble() * 0.2,
        DuplicateRate: random.NextDouble() * 0.1,
        MinDelayMs: 1,
        MaxDelayMs: 2 + random.Next(20),
        CrashRatePerSecond: random.NextDouble() * 1.5,
        PartitionRatePerSecond: random.NextDouble() * 1.5,
        MaxClockSkewMs: random.Next(0, 40));
}
