using System.Net;
using Fjord.Raft;
using Fjord.Server.Controller;
using Fjord.Server.Raft;

namespace Fjord.Server.Node;

/// <summary>
/// A broker-only node's copy of <c>__cluster_metadata-0</c>: a Raft observer (never a voter) that
/// fetches the metadata log from the quorum's leader into <c>&lt;metadata.log.dir&gt;/__cluster_metadata-0</c>
/// and hands every committed item to <paramref name="onCommitted"/>. Because the copy is on disk, a
/// restarted broker replays it (newest snapshot, then the log) and then fetches only the records
/// it lacks from the leader.
/// </summary>
/// <remarks>
/// The observer's driver listens on an ephemeral loopback port that nobody is told about (the
/// driver always listens; voters never address observers).
/// </remarks>
public sealed class MetadataObserver : IDisposable
{
    private readonly FileStream _lock;
    private readonly PartitionLogRaftLog _log;
    private readonly RaftNetworkDriver _driver;
    private readonly Dictionary<int, (string Host, int Port)> _voterAddresses;

    private MetadataObserver(FileStream lockFile, PartitionLogRaftLog log, RaftNetworkDriver driver, Dictionary<int, (string Host, int Port)> voterAddresses)
    {
        _lock = lockFile;
        _log = log;
        _driver = driver;
        _voterAddresses = voterAddresses;
    }

    /// <summary>The log end offset recovered from disk when the observer opened (what it did not have to fetch).</summary>
    public long RecoveredEndOffset { get; private init; }

    public int? LeaderId => _driver.LeaderId;
    public long HighWatermark => _driver.HighWatermark;
    public Exception? Fault => _driver.Fault;

    /// <summary>The active controller as this observer knows it (the Raft leader) and where to reach it.</summary>
    public (int Id, string Host, int Port)? ActiveController()
    {
        if (_driver.LeaderId is not { } leader) return null;
        if (_voterAddresses.TryGetValue(leader, out var address)) return (leader, address.Host, address.Port);
        if (_driver.Voters?.Voters.FirstOrDefault(v => v.Id == leader) is { } voter && voter.Endpoints.FirstOrDefault() is { } endpoint)
            return (leader, endpoint.Host, endpoint.Port);
        return null;
    }

    /// <summary>Opens the on-disk copy and starts fetching. <paramref name="output"/> gets one line when the
    /// first records arrive from the quorum (at which offset) and one for every truncation or snapshot
    /// reset that reaches below what was recovered from disk (a restarted broker should see none).</summary>
    public static MetadataObserver Start(ServerConfig config, string clusterId, Action<CommittedItem> onCommitted, Action<string>? trace,
        Action<string>? output = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var lockFile = ControllerServer.Lock(config.MetadataLogDir);
        PartitionLogRaftLog? log = null;
        RaftNetworkDriver? driver = null;
        try
        {
            string partitionDir = ControllerServer.MetadataPartitionDirectory(config);
            log = PartitionLogRaftLog.Open(partitionDir, ControllerServer.MetadataLogConfig(config));
            long recovered = log.EndOffset;
            var watched = new FetchWatchingLog(log, recovered, config.NodeId, output ?? (_ => { }));
            driver = new RaftNetworkDriver(config.NodeId, listenOn: null, ControllerServer.RaftConfigFor(config), watched,
                new FileQuorumStateStore(partitionDir), clusterId, onCommitted, trace);
            var addresses = config.QuorumVoters.ToDictionary(v => v.NodeId, v => (v.Address.Host, v.Address.Port));
            var observer = new MetadataObserver(lockFile, log, driver, addresses) { RecoveredEndOffset = recovered };
            if (config.QuorumVoters.Count > 0)
                driver.Start(config.QuorumVoters.ToDictionary(v => v.NodeId,
                    v => new IPEndPoint(ControllerServer.Resolve(v.Address.Host, $"voter {v}"), v.Address.Port)));
            else
                driver.StartDynamic(new RaftMembership(config.NodeId), [.. config.QuorumBootstrapServers.Select(b => (b.Host, b.Port))]);
            return observer;
        }
        catch
        {
            driver?.Dispose();
            log?.Close();
            lockFile.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _driver.Dispose();
        _log.Flush();
        _log.Close();
        _lock.Dispose();
    }
}

/// <summary>
/// The observer's log as the Raft driver sees it, reporting what was fetched: the offset of the first
/// follower append after start (<c>metadata: broker N fetched its first metadata records from the
/// quorum at offset X</c>, where X is the recovered end when only the tail was fetched) and any cut
/// below the recovered end (truncation or a snapshot reset), which means records on disk were refetched.
/// Everything else goes straight to the wrapped log.
/// </summary>
internal sealed class FetchWatchingLog(IRaftLog inner, long recoveredEnd, int nodeId, Action<string> output) : IRaftLog
{
    private int _reported;

    public long StartOffset => inner.StartOffset;
    public long EndOffset => inner.EndOffset;
    public long FlushedOffset => inner.FlushedOffset;
    public int LastEpoch => inner.LastEpoch;
    public OffsetAndEpoch? LatestSnapshotId => inner.LatestSnapshotId;

    public OffsetAndEpoch EndOffsetForEpoch(int epoch) => inner.EndOffsetForEpoch(epoch);
    public void AppendAsLeader(ReadOnlyMemory<byte> batches, int epoch) => inner.AppendAsLeader(batches, epoch);

    public void AppendAsFollower(ReadOnlyMemory<byte> batches)
    {
        long at = inner.EndOffset;
        inner.AppendAsFollower(batches);
        if (inner.EndOffset > at && Interlocked.Exchange(ref _reported, 1) == 0)
            output($"metadata: broker {nodeId} fetched its first metadata records from the quorum at offset {at} (recovered from disk: {recoveredEnd}; now up to {inner.EndOffset})");
    }

    public ReadOnlyMemory<byte> Read(long startOffset, int maxBytes, long endOffsetExclusive) => inner.Read(startOffset, maxBytes, endOffsetExclusive);

    public void TruncateTo(long offset)
    {
        if (offset < recoveredEnd && offset < inner.EndOffset)
            output($"metadata: broker {nodeId} truncated its metadata log to offset {offset}, below the {recoveredEnd} recovered from disk");
        inner.TruncateTo(offset);
    }

    public void Flush() => inner.Flush();
    public IRaftSnapshotWriter CreateSnapshot(OffsetAndEpoch id) => inner.CreateSnapshot(id);
    public RaftSnapshotChunk? ReadSnapshot(OffsetAndEpoch id, long position, int maxBytes) => inner.ReadSnapshot(id, position, maxBytes);
    public void AdvanceStartToSnapshot(OffsetAndEpoch id) => inner.AdvanceStartToSnapshot(id);

    public void ResetToSnapshot(OffsetAndEpoch id)
    {
        output($"metadata: broker {nodeId} reset its metadata log to snapshot {id.Offset}-{id.Epoch} from the quorum (recovered from disk: {recoveredEnd})");
        inner.ResetToSnapshot(id);
    }
}
