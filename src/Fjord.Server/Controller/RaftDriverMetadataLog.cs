using System.Threading.Channels;
using Fjord.Controller;
using Fjord.Raft;
using Fjord.Server.Raft;

namespace Fjord.Server.Controller;

/// <summary>
/// The production <see cref="IMetadataLog"/>: a <see cref="QuorumController"/> over a
/// <see cref="RaftNetworkDriver"/>. Create it first and pass <see cref="OnCommitted"/> as the
/// driver's committed callback, then <see cref="Attach"/> the started driver. Leadership changes
/// are noticed by polling the driver's published role and epoch (every <paramref name="pollIntervalMs"/>).
/// </summary>
/// <remarks>
/// <see cref="Append"/> blocks the calling (controller) thread until the driver has appended the
/// batch (not until it commits), so the controller learns the offset synchronously, as the port
/// requires. The proposal is epoch-checked on the driver's thread, in the round that appends it
/// (<see cref="RaftNetworkDriver.ProposeAsync(IReadOnlyList{byte[]}, int, CancellationToken)"/>), so a
/// node that loses and regains leadership meanwhile never appends in the new epoch a batch computed in
/// the old one. A driver stopping (or stopped) refuses the append (null).
/// </remarks>
public sealed class RaftDriverMetadataLog(int nodeId, int pollIntervalMs = 20) : IMetadataLog, IDisposable
{
    private readonly object _gate = new();
    private readonly List<CommittedItem> _early = [];
    private IMetadataLogListener? _listener;
    private RaftNetworkDriver? _driver;
    private Timer? _poll;
    private LeaderAndEpoch? _reported;

    public int NodeId => nodeId;

    public void Register(IMetadataLogListener listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        lock (_gate)
        {
            _listener = listener;
            foreach (var item in _early) listener.OnCommitted(item);
            _early.Clear();
        }
    }

    /// <summary>The driver's committed callback (called on the driver's thread).</summary>
    public void OnCommitted(CommittedItem item)
    {
        lock (_gate)
        {
            if (_listener is null) _early.Add(item);
            else _listener.OnCommitted(item);
        }
    }

    public void Attach(RaftNetworkDriver driver)
    {
        _driver = driver ?? throw new ArgumentNullException(nameof(driver));
        _poll = new Timer(_ => PollLeadership(), null, 0, pollIntervalMs);
    }

    public long? Append(int epoch, IReadOnlyList<byte[]> records)
    {
        var driver = _driver;
        if (driver is null || driver.Role != RaftRole.Leader || driver.Epoch != epoch) return null;
        try
        {
            return driver.ProposeAsync(records, epoch).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException or ObjectDisposedException)
        {
            return null; // the driver is stopping
        }
    }

    private void PollLeadership()
    {
        var driver = _driver;
        if (driver is null) return;
        int? leader = driver.Role switch
        {
            RaftRole.Leader => nodeId,
            RaftRole.Resigned => null,
            _ => driver.LeaderId,
        };
        var current = new LeaderAndEpoch(leader, driver.Epoch);
        lock (_gate)
        {
            if (_reported == current || _listener is null) return;
            _reported = current;
            _listener.OnLeaderChange(current);
        }
    }

    public void Dispose() => _poll?.Dispose();
}
