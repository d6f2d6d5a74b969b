namespace Fjord.Raft.Tests;

/// <summary>
/// A quorum-state store that records, with every write, what the node had queued to send at that
/// moment: proof that a vote or epoch is durable before any message depending on it exists.
/// </summary>
internal sealed class RecordingStore : IQuorumStateStore
{
    private ElectionState? _state;

    public Func<IReadOnlyList<RaftMessage>>? Probe { get; set; }
    public List<(ElectionState State, RaftMessage[] QueuedAtWrite)> Writes { get; } = [];

    public ElectionState? Read() => _state;

    public void Write(ElectionState state)
    {
        _state = state;
        Writes.Add((state, Probe?.Invoke().ToArray() ?? []));
    }
}
