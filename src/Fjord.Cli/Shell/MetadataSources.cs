using System.Globalization;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;
using Fjord.Raft;
using Fjord.Server;
using Fjord.Storage;

namespace Fjord.Cli.Shell;

/// <summary>The metadata could not be loaded (a file missing or corrupt, a quorum that does not answer): one line for the operator.</summary>
public sealed class MetadataLoadException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// What the shell loaded: the image, where it came from, and the quorum as the records showed it
/// (the last LeaderChange control record read, or the leader a live quorum named).
/// </summary>
/// <param name="Image">The metadata image after the last record loaded.</param>
/// <param name="Source">A description of the source (<c>snapshot FILE</c>, <c>directory DIR</c>, <c>quorum HOST:PORT</c>).</param>
/// <param name="LastOffset">The last offset loaded (−1 when nothing was).</param>
/// <param name="LastEpoch">The epoch of the batch (or snapshot) holding it.</param>
/// <param name="LeaderId">The quorum leader the source names, or null when it names none (a snapshot).</param>
/// <param name="LeaderEpoch">That leader's epoch (−1 when unknown).</param>
/// <param name="HighWatermark">The high watermark a live quorum reported (−1 for files).</param>
/// <param name="SnapshotId">The snapshot loaded first, if any.</param>
/// <param name="Batches">Log batches applied after the snapshot.</param>
public sealed record LoadedMetadata(MetadataImage Image, string Source, long LastOffset, int LastEpoch, int? LeaderId, int LeaderEpoch,
    long HighWatermark, OffsetAndEpoch? SnapshotId, int Batches);

/// <summary>
/// Loads a <see cref="MetadataImage"/> for the shell from a snapshot file, a metadata log directory
/// (<c>__cluster_metadata-0</c>: the newest snapshot, then every batch after it), or a live quorum
/// read as a Raft observer. Everything goes through the same <see cref="MetadataLoader"/> the nodes
/// use, so every source gives the same image for the same records.
/// </summary>
/// <remarks>
/// Read-only: nothing is created, renamed or deleted in a directory (leftover <c>.part</c> snapshot
/// files are ignored, not cleaned). A live directory may be read while its node writes: a batch cut
/// short at the very end of the last segment is taken as not yet written and ignored.
/// </remarks>
public static class MetadataSources
{
    private const int MaxSnapshotBytes = int.MaxValue - 64;

    /// <summary>Loads one snapshot file (named as Kafka names them: <c>&lt;endOffset&gt;-&lt;epoch&gt;.checkpoint</c>).</summary>
    public static LoadedMetadata LoadSnapshot(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new MetadataLoadException($"snapshot {path} does not exist");
        if (!SnapshotFiles.TryParseFileName(Path.GetFileName(path), out var id))
            throw new MetadataLoadException($"{path} is not named as a snapshot (<20-digit end offset>-<10-digit epoch>.checkpoint)");
        var loader = new MetadataLoader();
        var snapshot = OpenSnapshot(Path.GetDirectoryName(Path.GetFullPath(path))!, id);
        Apply(loader, snapshot, $"snapshot {path}");
        return new LoadedMetadata(loader.Image, $"snapshot {path}", id.EndOffset - 1, id.Epoch, null, -1, -1, snapshot.Id, 0);
    }

    private static SnapshotLoad OpenSnapshot(string directory, SnapshotId id)
    {
        try
        {
            var reader = SnapshotReader.Open(directory, id);
            return new SnapshotLoad(new OffsetAndEpoch(id.EndOffset, id.Epoch), reader.Bytes);
        }
        catch (StorageException e)
        {
            throw new MetadataLoadException(e.Message, e);
        }
    }

    private static void Apply(MetadataLoader loader, CommittedItem item, string where)
    {
        try
        {
            loader.Handle(item);
        }
        catch (Exception e) when (e is MetadataReplayException or InvalidOperationException or ProtocolDecodeException or AggregateException)
        {
            throw new MetadataLoadException($"{where}: {e.Message}", e);
        }
    }

    /// <summary>Loads a metadata log directory: its newest snapshot, then the segments' batches after it.</summary>
    public static LoadedMetadata LoadDirectory(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory)) throw new MetadataLoadException($"directory {directory} does not exist");
        var nested = Path.Combine(directory, "__cluster_metadata-0");
        if (Directory.Exists(nested)) directory = nested; // the metadata.log.dir itself was named
        var snapshots = new List<SnapshotId>();
        var segments = new List<(long BaseOffset, string Path)>();
        foreach (var path in Directory.EnumerateFiles(directory))
        {
            var name = Path.GetFileName(path);
            if (SnapshotFiles.TryParseFileName(name, out var id)) snapshots.Add(id);
            else if (SegmentFileNames.TryParse(name, out long baseOffset, out var kind, out var marker) && kind == SegmentFileNames.LogSuffix && marker.Length == 0)
                segments.Add((baseOffset, path));
        }
        if (snapshots.Count == 0 && segments.Count == 0)
            throw new MetadataLoadException($"{directory} holds no snapshot (.checkpoint) and no log segment (.log): is it a __cluster_metadata-0 directory?");
        snapshots.Sort();
        segments.Sort((a, b) => a.BaseOffset.CompareTo(b.BaseOffset));

        var loader = new MetadataLoader();
        OffsetAndEpoch? snapshotId = null;
        long lastOffset = -1;
        int lastEpoch = -1;
        if (snapshots.Count > 0)
        {
            var latest = snapshots[^1];
            var snapshot = OpenSnapshot(directory, latest);
            Apply(loader, snapshot, $"snapshot {SnapshotFiles.PathOf(directory, latest)}");
            snapshotId = snapshot.Id;
            lastOffset = latest.EndOffset - 1;
            lastEpoch = latest.Epoch;
        }
        var tracker = new LeaderTracker();
        int applied = 0;
        for (int s = 0; s < segments.Count; s++)
        {
            var (_, path) = segments[s];
            byte[] bytes;
            try
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                bytes = new byte[stream.Length];
                stream.ReadExactly(bytes);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new MetadataLoadException($"cannot read {path}: {e.Message}", e);
            }
            var (batches, stop) = DumpLogCommand.Frame(bytes);
            if (stop is { } problem && !(s == segments.Count - 1 && problem.Problem.Contains("cut short", StringComparison.Ordinal)))
                throw new MetadataLoadException($"{path} is corrupt at position {problem.Position}: {problem.Problem}");
            foreach (var (position, batch) in batches)
            {
                if (!batch.IsCrcValid) throw new MetadataLoadException($"{path}: the batch at position {position} (offsets {batch.BaseOffset}-{batch.LastOffset}) fails its CRC check");
                tracker.Observe(batch);
                if (batch.LastOffset < loader.NextOffset) continue; // before the snapshot
                if (batch.BaseOffset != loader.NextOffset)
                    throw new MetadataLoadException($"{path}: the batch at position {position} starts at offset {batch.BaseOffset}, but offset {loader.NextOffset} was expected next (a gap after the snapshot or between segments)");
                Apply(loader, new CommittedBatch(batch.BaseOffset, batch.LastOffset, batch.PartitionLeaderEpoch, batch.MaxTimestamp, batch.IsControl, batch.Bytes),
                    $"{path} at position {position}");
                lastOffset = batch.LastOffset;
                lastEpoch = batch.PartitionLeaderEpoch;
                applied++;
            }
        }
        return new LoadedMetadata(loader.Image, $"directory {directory}", lastOffset, lastEpoch, tracker.LeaderId, tracker.Epoch, -1, snapshotId, applied);
    }

    /// <summary>The leader the log's LeaderChange control records name (the last one read wins).</summary>
    private sealed class LeaderTracker
    {
        public int? LeaderId { get; private set; }
        public int Epoch { get; private set; } = -1;

        public void Observe(RecordBatch batch)
        {
            if (!batch.IsControl) return;
            try
            {
                using var records = batch.OpenRecords(1 << 20);
                foreach (var r in records)
                {
                    if (r.Key.Length < ControlRecordKey.Size || ControlRecordKey.Read(r.KeySpan).Type != ControlRecordType.LeaderChange) continue;
                    var message = KafkaMessages.Deserialize<LeaderChangeMessage>(r.Value, 0);
                    LeaderId = message.LeaderId;
                    Epoch = batch.PartitionLeaderEpoch;
                }
            }
            catch (ProtocolDecodeException)
            {
                // A control record we cannot read names no leader; the metadata is unaffected.
            }
        }
    }

    // ---- a live quorum ----

    /// <summary>How long loading from a live quorum may take in all.</summary>
    public static readonly TimeSpan QuorumDeadline = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);
    private const int FetchMaxBytes = 8 * 1024 * 1024;

    /// <summary>
    /// Reads the metadata log of a live quorum as a Raft observer: DescribeQuorum (through
    /// <see cref="MetadataQuorumCommand.DescribeAsync"/>) names the leader, its epoch and the cluster
    /// id; then Fetch requests for <c>__cluster_metadata-0</c> go to the leader from offset 0 until the
    /// high watermark of the first answer is reached (FetchSnapshot when the leader answers with a
    /// snapshot id). Only committed batches (below the high watermark) are applied.
    /// </summary>
    /// <remarks>
    /// The controller accepts Raft RPCs only from client id <c>raft-&lt;non-negative id&gt;</c> and keys
    /// its answers by that id and the correlation id, so the shell uses a large id no node has
    /// (<see cref="ObserverClientId"/>); the Fetch itself carries replica id −1, so the leader neither
    /// counts it towards the high watermark nor lists it among the observers. A leader change while
    /// reading starts the read again (bounded by <see cref="QuorumDeadline"/>).
    /// </remarks>
    public static async Task<LoadedMetadata> LoadQuorumAsync(IReadOnlyList<HostPort> bootstrap, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(bootstrap);
        long deadline = Environment.TickCount64 + (long)QuorumDeadline.TotalMilliseconds;
        string problem = "";
        for (int attempt = 1; ; attempt++)
        {
            if (Environment.TickCount64 > deadline || attempt > 10)
                throw new MetadataLoadException($"could not read the metadata log from the quorum within {QuorumDeadline.TotalSeconds:0} s: {problem}");
            try
            {
                return await ReadFromLeaderAsync(bootstrap, deadline, cancellationToken).ConfigureAwait(false);
            }
            catch (RetryException e)
            {
                problem = e.Message;
                await Task.Delay(200, cancellationToken).ConfigureAwait(false);
            }
            catch (KafkaClientException e)
            {
                throw new MetadataLoadException(e.Message, e);
            }
        }
    }

    /// <summary>How long asking a broker for the controller endpoints may take (an election may be under way).</summary>
    public static readonly TimeSpan BrokerDeadline = TimeSpan.FromSeconds(15);

    /// <summary>DescribeQuorum lists the voters' endpoints (<c>Nodes</c>) from this version on (KIP-853).</summary>
    public const short DescribeQuorumNodesVersion = 2;

    /// <summary>
    /// Reads the metadata log of a live quorum found through a broker: DescribeQuorum (v2 or newer)
    /// at the first bootstrap broker that answers, which forwards it to the active controller; the
    /// answer's <c>Nodes[].Listeners</c> are the voters' controller endpoints (KIP-853). Those
    /// endpoints (the leader's first) are then read exactly as <see cref="LoadQuorumAsync"/> reads
    /// <c>--bootstrap-controller</c>: Fetch / FetchSnapshot as a Raft observer at the leader.
    /// </summary>
    /// <remarks>
    /// Failures are one line (<see cref="MetadataLoadException"/>): no bootstrap broker reachable; a
    /// broker that serves DescribeQuorum only below v2 or answers without <c>Nodes</c> (a controller
    /// older than KIP-853: use <c>--bootstrap-controller</c>); an error code in the answer (leadership
    /// errors are asked again until <see cref="BrokerDeadline"/>); none of the named controller
    /// endpoints accepting a connection.
    /// </remarks>
    public static async Task<LoadedMetadata> LoadQuorumViaBrokerAsync(IReadOnlyList<HostPort> brokers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(brokers);
        if (brokers.Count == 0) throw new ArgumentException("no bootstrap broker", nameof(brokers));
        var (broker, controllers) = await ControllerEndpointsAsync(brokers, cancellationToken).ConfigureAwait(false);
        var reachable = new List<HostPort>();
        var problems = new List<string>();
        foreach (var endpoint in controllers)
        {
            try
            {
                using var probe = await KafkaClient.ConnectAsync(endpoint.Host, endpoint.Port, ObserverClientId, RequestTimeout, cancellationToken).ConfigureAwait(false);
                reachable.Add(endpoint);
            }
            catch (KafkaClientException e)
            {
                problems.Add(e.Message);
            }
        }
        if (reachable.Count == 0)
            throw new MetadataLoadException($"none of the controller endpoints broker {broker} named ({string.Join(", ", controllers)}) accepts a connection: {string.Join("; ", problems)}");
        var loaded = await LoadQuorumAsync(reachable, cancellationToken).ConfigureAwait(false);
        return loaded with { Source = $"quorum {string.Join(",", reachable)} (named by broker {broker})" };
    }

    /// <summary>
    /// The controller endpoints a broker's DescribeQuorum answer names: the leader's listeners first,
    /// then the other voters' (nodes that are not voters last), without duplicates.
    /// </summary>
    private static async Task<(string Broker, List<HostPort> Controllers)> ControllerEndpointsAsync(IReadOnlyList<HostPort> brokers, CancellationToken cancellationToken)
    {
        long deadline = Environment.TickCount64 + (long)BrokerDeadline.TotalMilliseconds;
        var problems = new List<string>();
        KafkaClient? client = null;
        foreach (var address in brokers)
        {
            try
            {
                client = await KafkaClient.ConnectAsync(address.Host, address.Port, "fjord-metadata-shell", RequestTimeout, cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (KafkaClientException e)
            {
                problems.Add(e.Message);
            }
        }
        if (client is null)
            throw new MetadataLoadException(problems.Count == 1 ? $"broker unreachable: {problems[0]}" : $"no bootstrap broker answered: {string.Join("; ", problems)}");
        using (client)
        {
            try
            {
                var versions = await client.SendAsync<ApiVersionsResponse>(new ApiVersionsRequest { ClientSoftwareName = "fjord-metadata-shell", ClientSoftwareVersion = "1" }, 3,
                    cancellationToken).ConfigureAwait(false);
                if (versions.ErrorCode != 0) throw new MetadataLoadException($"ApiVersions at {client.Address} failed: {MetadataQuorumCommand.ErrorName(versions.ErrorCode)}");
                var theirs = versions.ApiKeys.FirstOrDefault(k => k.ApiKey == DescribeQuorumRequest.ApiKey)
                    ?? throw new MetadataLoadException($"{client.Address} does not serve DescribeQuorum (a broker older than KIP-595?); use --bootstrap-controller HOST:PORT");
                short version = Math.Min(KafkaApis.Find(DescribeQuorumRequest.ApiKey)!.Versions.Highest, theirs.MaxVersion);
                if (version < DescribeQuorumNodesVersion)
                    throw new MetadataLoadException($"{client.Address} serves DescribeQuorum only up to v{theirs.MaxVersion}, whose answers name no controller endpoints " +
                        $"(Nodes came with v{DescribeQuorumNodesVersion}, KIP-853); use --bootstrap-controller HOST:PORT");
                for (int attempt = 1; ; attempt++)
                {
                    var request = new DescribeQuorumRequest();
                    request.Topics.Add(new DescribeQuorumRequest.TopicData
                    {
                        TopicName = "__cluster_metadata",
                        Partitions = [new DescribeQuorumRequest.PartitionData { PartitionIndex = 0 }],
                    });
                    var answer = await client.SendAsync<DescribeQuorumResponse>(request, version, cancellationToken).ConfigureAwait(false);
                    var partition = answer.Topics is [{ Partitions: [var p] }] ? p : null;
                    short error = answer.ErrorCode != 0 ? answer.ErrorCode : partition?.ErrorCode ?? 0;
                    if (error == 0 && partition is null)
                        throw new MetadataLoadException($"{client.Address} answered DescribeQuorum without the __cluster_metadata partition");
                    if (error != 0)
                    {
                        string text = $"DescribeQuorum through {client.Address} failed: {MetadataQuorumCommand.ErrorName(error)}" +
                            (string.IsNullOrEmpty(answer.ErrorMessage) ? "" : $": {answer.ErrorMessage}");
                        bool retriable = error is (short)ErrorCode.NotLeaderOrFollower or (short)ErrorCode.NotController or (short)ErrorCode.RequestTimedOut
                            or (short)ErrorCode.BrokerNotAvailable;
                        if (!retriable || attempt >= 50 || Environment.TickCount64 > deadline) throw new MetadataLoadException(text);
                        await Task.Delay(200, cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                    if (answer.Nodes.Count == 0)
                        throw new MetadataLoadException($"the DescribeQuorum v{version} answer of {client.Address} names no controller endpoints (no Nodes: " +
                            "the active controller predates KIP-853); use --bootstrap-controller HOST:PORT");
                    var voters = partition!.CurrentVoters.Select(v => v.ReplicaId).ToList();
                    var ordered = answer.Nodes
                        .OrderBy(n => n.NodeId == partition.LeaderId ? 0 : voters.Contains(n.NodeId) ? 1 : 2)
                        .ThenBy(n => voters.IndexOf(n.NodeId));
                    var endpoints = new List<HostPort>();
                    foreach (var node in ordered)
                        foreach (var listener in node.Listeners)
                        {
                            if (string.IsNullOrWhiteSpace(listener.Host) || listener.Port == 0) continue;
                            var endpoint = new HostPort(listener.Host, listener.Port);
                            if (!endpoints.Contains(endpoint)) endpoints.Add(endpoint);
                        }
                    if (endpoints.Count == 0)
                        throw new MetadataLoadException($"the DescribeQuorum answer of {client.Address} lists {answer.Nodes.Count} nodes but no usable controller endpoint");
                    return (client.Address, endpoints);
                }
            }
            catch (KafkaClientException e)
            {
                throw new MetadataLoadException(e.Message, e);
            }
        }
    }

    /// <summary>The client id of the shell's Raft requests: <c>raft-&lt;id&gt;</c> with an id far above any node id.</summary>
    public static string ObserverClientId { get; } = "raft-" + (2_000_000_000 + Random.Shared.Next(100_000_000)).ToString(CultureInfo.InvariantCulture);

    private sealed class RetryException(string message) : Exception(message);

    private static async Task<LoadedMetadata> ReadFromLeaderAsync(IReadOnlyList<HostPort> bootstrap, long deadline, CancellationToken cancellationToken)
    {
        string clusterId;
        DescribeQuorumResponse quorum;
        try
        {
            (clusterId, quorum) = await MetadataQuorumCommand.DescribeAsync(bootstrap, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not (KafkaClientException or OperationCanceledException))
        {
            // A controller that answered with an error (or lacks an API): one line, not a crash.
            throw new MetadataLoadException(e.Message, e);
        }
        var partition = quorum.Topics[0].Partitions[0];
        int leaderId = partition.LeaderId, epoch = partition.LeaderEpoch;
        var leaderNode = quorum.Nodes.FirstOrDefault(n => n.NodeId == leaderId);
        HostPort address = leaderNode is { Listeners.Count: > 0 } ? new HostPort(leaderNode.Listeners[0].Host, leaderNode.Listeners[0].Port)
            : bootstrap.Count == 1 ? bootstrap[0]
            : throw new RetryException($"DescribeQuorum named leader {leaderId} without its endpoint");

        using var client = await KafkaClient.ConnectAsync(address.Host, address.Port, ObserverClientId, RequestTimeout, cancellationToken).ConfigureAwait(false);
        var versions = await client.SendAsync<ApiVersionsResponse>(new ApiVersionsRequest { ClientSoftwareName = "fjord-metadata-shell", ClientSoftwareVersion = "1" }, 3, cancellationToken)
            .ConfigureAwait(false);
        short fetchVersion = Agree(versions, FetchRequest.ApiKey, 12, client.Address);
        var loader = new MetadataLoader();
        var tracker = new LeaderTracker();
        long fetchOffset = 0, target = -1, lastOffset = -1;
        int lastFetchedEpoch = 0, lastEpoch = -1, applied = 0;
        OffsetAndEpoch? snapshotId = null;
        while (target < 0 || fetchOffset < target)
        {
            if (Environment.TickCount64 > deadline) throw new RetryException($"the read stopped at offset {fetchOffset} of {target}");
            var request = new FetchRequest
            {
                ClusterId = clusterId,
                ReplicaState = new FetchRequest.ReplicaStateData { ReplicaId = -1, ReplicaEpoch = -1 },
                MaxWaitMs = 0,
                MinBytes = 0,
                MaxBytes = FetchMaxBytes,
                Topics =
                [
                    new FetchRequest.FetchTopic
                    {
                        Topic = "__cluster_metadata",
                        TopicId = Uuid.OneUuid,
                        Partitions =
                        [
                            new FetchRequest.FetchPartition
                            {
                                Partition = 0, CurrentLeaderEpoch = epoch, FetchOffset = fetchOffset, LastFetchedEpoch = lastFetchedEpoch,
                                PartitionMaxBytes = FetchMaxBytes,
                            },
                        ],
                    },
                ],
            };
            var response = await client.SendAsync<FetchResponse>(request, fetchVersion, cancellationToken).ConfigureAwait(false);
            if (response.ErrorCode != 0) throw Failure("Fetch", response.ErrorCode, client.Address);
            if (response.Responses is not [{ Partitions: [var p] }]) throw new KafkaClientException($"{client.Address} answered Fetch without the one partition asked for");
            if (p.ErrorCode != 0) throw Failure("Fetch", p.ErrorCode, client.Address);
            if (target < 0)
            {
                if (p.HighWatermark < 0) throw new RetryException($"leader {leaderId} knows no high watermark yet");
                target = p.HighWatermark;
            }
            if (p.SnapshotId is { EndOffset: >= 0, Epoch: >= 0 } sid)
            {
                var id = new OffsetAndEpoch(sid.EndOffset, sid.Epoch);
                var bytes = await FetchSnapshotAsync(client, versions, clusterId, epoch, id, cancellationToken).ConfigureAwait(false);
                var load = new SnapshotLoad(id, bytes);
                Apply(loader, load, $"snapshot {id.Offset}-{id.Epoch} from {client.Address}");
                snapshotId = id;
                fetchOffset = id.Offset;
                lastFetchedEpoch = id.Epoch;
                lastOffset = id.Offset - 1;
                lastEpoch = id.Epoch;
                target = Math.Max(target, id.Offset);
                continue;
            }
            if (p.DivergingEpoch is { EndOffset: >= 0 } diverging && diverging.Epoch >= 0)
                throw new RetryException($"the leader's log diverges from what was read at epoch {diverging.Epoch}, offset {diverging.EndOffset}");
            var records = p.Records ?? ReadOnlyMemory<byte>.Empty;
            int before = applied;
            foreach (var batch in new RecordBatchReader(records, allowTruncatedTail: true))
            {
                if (batch.LastOffset < fetchOffset) continue;
                if (batch.LastOffset >= target) break; // not committed when the read began
                if (batch.BaseOffset != fetchOffset)
                    throw new KafkaClientException($"{client.Address} sent a batch at offset {batch.BaseOffset} for a fetch at {fetchOffset}");
                if (!batch.IsCrcValid) throw new KafkaClientException($"{client.Address} sent batch {batch.BaseOffset}-{batch.LastOffset} with a bad CRC");
                tracker.Observe(batch);
                Apply(loader, new CommittedBatch(batch.BaseOffset, batch.LastOffset, batch.PartitionLeaderEpoch, batch.MaxTimestamp, batch.IsControl, batch.Bytes.ToArray()),
                    $"batch {batch.BaseOffset}-{batch.LastOffset} from {client.Address}");
                fetchOffset = batch.LastOffset + 1;
                lastFetchedEpoch = batch.PartitionLeaderEpoch;
                lastOffset = batch.LastOffset;
                lastEpoch = batch.PartitionLeaderEpoch;
                applied++;
            }
            if (applied == before && fetchOffset < target)
            {
                // A batch straddling the target (appended, not yet committed) ends the read there.
                if (!records.IsEmpty) break;
                throw new RetryException($"leader {leaderId} sent nothing at offset {fetchOffset} below its high watermark {target}");
            }
        }
        return new LoadedMetadata(loader.Image, $"quorum {string.Join(",", bootstrap)}", lastOffset, lastEpoch, leaderId, epoch, target, snapshotId, applied);
    }

    private static async Task<ReadOnlyMemory<byte>> FetchSnapshotAsync(KafkaClient client, ApiVersionsResponse versions, string clusterId, int epoch,
        OffsetAndEpoch id, CancellationToken cancellationToken)
    {
        short version = Agree(versions, FetchSnapshotRequest.ApiKey, 0, client.Address);
        using var buffer = new MemoryStream();
        long size = -1;
        for (int chunk = 0; size < 0 || buffer.Length < size; chunk++)
        {
            if (chunk > 100_000) throw new KafkaClientException($"{client.Address}: snapshot {id.Offset}-{id.Epoch} did not end");
            var request = new FetchSnapshotRequest
            {
                ClusterId = clusterId,
                ReplicaId = -1,
                MaxBytes = FetchMaxBytes,
                Topics =
                [
                    new FetchSnapshotRequest.TopicSnapshot
                    {
                        Name = "__cluster_metadata",
                        Partitions =
                        [
                            new FetchSnapshotRequest.PartitionSnapshot
                            {
                                Partition = 0, CurrentLeaderEpoch = epoch, Position = buffer.Length,
                                SnapshotId = new FetchSnapshotRequest.SnapshotId { EndOffset = id.Offset, Epoch = id.Epoch },
                            },
                        ],
                    },
                ],
            };
            var response = await client.SendAsync<FetchSnapshotResponse>(request, version, cancellationToken).ConfigureAwait(false);
            if (response.ErrorCode != 0) throw Failure("FetchSnapshot", response.ErrorCode, client.Address);
            if (response.Topics is not [{ Partitions: [var p] }]) throw new KafkaClientException($"{client.Address} answered FetchSnapshot without the one partition asked for");
            if (p.ErrorCode != 0) throw Failure("FetchSnapshot", p.ErrorCode, client.Address);
            if (p.Position != buffer.Length) throw new KafkaClientException($"{client.Address} answered FetchSnapshot at position {p.Position}, asked {buffer.Length}");
            if (p.Size < 0 || p.Size > MaxSnapshotBytes) throw new KafkaClientException($"{client.Address}: snapshot size {p.Size} is out of range");
            size = p.Size;
            var bytes = p.UnalignedRecords ?? ReadOnlyMemory<byte>.Empty;
            if (bytes.IsEmpty && buffer.Length < size) throw new KafkaClientException($"{client.Address} sent an empty snapshot chunk at position {buffer.Length} of {size}");
            buffer.Write(bytes.Span);
        }
        return buffer.ToArray();
    }

    private static short Agree(ApiVersionsResponse versions, short apiKey, short lowest, string address)
    {
        var api = KafkaApis.Find(apiKey)!;
        var theirs = versions.ApiKeys.FirstOrDefault(k => k.ApiKey == apiKey)
            ?? throw new KafkaClientException($"{address} does not serve {api.Name} (is it a controller listener?)");
        short version = Math.Min(api.Versions.Highest, theirs.MaxVersion);
        if (version < Math.Max(lowest, theirs.MinVersion))
            throw new KafkaClientException($"{address} serves {api.Name} only at versions {theirs.MinVersion}-{theirs.MaxVersion}");
        return version;
    }

    /// <summary>Leadership errors start the read again; any other error code ends it.</summary>
    private static Exception Failure(string api, short code, string address) =>
        code is (short)ErrorCode.NotLeaderOrFollower or (short)ErrorCode.FencedLeaderEpoch or (short)ErrorCode.UnknownLeaderEpoch
            ? new RetryException($"{api} at {address}: {MetadataQuorumCommand.ErrorName(code)}")
            : new KafkaClientException($"{api} at {address} failed: {MetadataQuorumCommand.ErrorName(code)}");
}
