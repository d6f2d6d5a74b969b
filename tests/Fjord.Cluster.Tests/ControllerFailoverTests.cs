using Fjord.Testing;
using System.Diagnostics;
using System.Net.Sockets;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;
using Fjord.Raft;
using Fjord.Server.Raft;
using Fjord.Storage;
using Xunit.Abstractions;

namespace Fjord.Cluster.Tests;

/// <summary>
/// The QuorumController behind the controller listener, in three real controller processes: a
/// client streams CreateTopics (one topic per request, several in flight on one connection) to the
/// active controller, the active controller is SIGKILLed mid-stream, the client finds the new one
/// (DescribeCluster, NOT_CONTROLLER, reconnect) and goes on. Then, from the survivors' metadata
/// logs (read from disk after a graceful stop, loaded by Fjord.Metadata's loader): every
/// acknowledged topic is there with all its partitions, every unacknowledged one is whole or absent.
/// </summary>
public sealed partial class ControllerFailoverTests(ITestOutputHelper output) : IDisposable
{
    private const int SigKill = 9;
    private const int ElectionTimeoutMs = 1000;
    private const int Partitions = 3;
    private const int InFlight = 8;
    private const int AckedBeforeKill = 40;
    private const int AckedAfterKill = 40;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private static readonly int[] Ids = [1, 2, 3];

    private readonly ClusterDirectory _dir = new();
    private readonly Dictionary<int, FjordProcess> _processes = [];

    public void Dispose()
    {
        foreach (var p in _processes.Values) p.Dispose();
        _dir.Dispose();
    }

    private static BrokerRegistrationRequest Registration(int brokerId, Uuid incarnation) => new()
    {
        BrokerId = brokerId,
        ClusterId = ClusterDirectory.ClusterId,
        IncarnationId = incarnation,
        Listeners = [new BrokerRegistrationRequest.Listener { Name = "PLAINTEXT", Host = "localhost", Port = (ushort)(9092 + brokerId), SecurityProtocol = 0 }],
        Features = [new BrokerRegistrationRequest.Feature { Name = MetadataVersion.FeatureName, MinSupportedVersion = 1, MaxSupportedVersion = MetadataVersion.LatestTesting.FeatureLevel }],
    };

    private static CreateTopicsRequest CreateTopic(string name) => new()
    {
        Topics = [new CreateTopicsRequest.CreatableTopic { Name = name, NumPartitions = Partitions, ReplicationFactor = 1 }],
        TimeoutMs = 30_000,
    };

    /// <summary>A connection to the controller the running controllers name as active (DescribeCluster), retried until the deadline.</summary>
    private async Task<(int Id, PipelinedClient Client)> ConnectToActive(QuorumProbe probe, IReadOnlyDictionary<int, int> ports, Stopwatch clock)
    {
        while (clock.Elapsed < Bound)
        {
            foreach (var id in _processes.Where(p => !p.Value.HasExited).Select(p => p.Key).Order())
            {
                if (await probe.ControllerIdAsync(id) is not { } active || active < 0 || _processes[active].HasExited) continue;
                try
                {
                    return (active, await PipelinedClient.ConnectAsync(ports[active]));
                }
                catch (SocketException)
                {
                    probe.Forget(active);
                }
            }
            await Task.Delay(20);
        }
        throw new TimeoutException($"no active controller within {Bound.TotalSeconds} s");
    }

    [Fact]
    public async Task CreateTopics_streamed_through_a_SIGKILL_of_the_active_controller_loses_no_acknowledged_topic_and_splits_none()
    {
        var ports = Ids.Zip(ClusterDirectory.FreePorts(Ids.Length)).ToDictionary(p => p.First, p => p.Second);
        string extra = $"""
            controller.quorum.election.timeout.ms={ElectionTimeoutMs}
            controller.quorum.fetch.timeout.ms={ElectionTimeoutMs}
            metadata.max.idle.interval.ms=100
            broker.session.timeout.ms=120000
            """;
        var configs = Ids.ToDictionary(id => id, id => _dir.WriteControllerConfig(id, ports, extra));
        foreach (var config in configs.Values) ClusterDirectory.Format(config);
        foreach (var id in Ids)
            _processes[id] = FjordProcess.Start($"controller-{id}", "server", "start", "--config", configs[id]);
        using var probe = new QuorumProbe(ports);
        var clock = Stopwatch.StartNew();

        var acked = new List<string>();
        var unacked = new List<string>();   // sent, answered with NOT_CONTROLLER or not answered at all
        var refused = new List<string>();   // any other error (none expected)
        int next = 0, killedId = -1, reconnects = 0;
        long killedAtMs = -1, firstAckAfterKillMs = -1;
        int ackedAtKill = 0, ackedByKilledAfterKill = 0;
        PipelinedClient? client = null;
        try
        {
            // One fake broker, registered and unfenced, so that replication factor 1 can be placed.
            // (Its session outlives the test: broker.session.timeout.ms above; a new active controller starts it afresh.)
            var incarnation = Uuid.NewRandom(); // the same on a retry: a re-registration, not a duplicate
            while (true)
            {
                var (id, c) = await ConnectToActive(probe, ports, clock);
                using (c)
                {
                    var registered = await c.SendAsync<BrokerRegistrationResponse>(Registration(1, incarnation), 4).WaitAsync(Bound);
                    if (registered.ErrorCode == (short)ErrorCode.NotController) { await Task.Delay(20); continue; }
                    Assert.Equal(0, registered.ErrorCode);
                    var beat = await c.SendAsync<BrokerHeartbeatResponse>(new BrokerHeartbeatRequest
                    { BrokerId = 1, BrokerEpoch = registered.BrokerEpoch, CurrentMetadataOffset = registered.BrokerEpoch }, 1).WaitAsync(Bound);
                    if (beat.ErrorCode == (short)ErrorCode.NotController) { await Task.Delay(20); continue; }
                    Assert.Equal((0, false), (beat.ErrorCode, beat.IsFenced));
                    output.WriteLine($"broker 1 registered (epoch {registered.BrokerEpoch}) and unfenced on controller {id}");
                    break;
                }
            }

            var window = new Queue<(string Name, Task<CreateTopicsResponse> Answer)>();
            int activeId = -1;
            while (acked.Count < ackedAtKill + AckedAfterKill || killedId < 0)
            {
                Assert.True(clock.Elapsed < Bound, $"streaming did not finish within {Bound.TotalSeconds} s: {acked.Count} acked");
                if (client is null)
                {
                    (activeId, client) = await ConnectToActive(probe, ports, clock);
                    reconnects++;
                }
                while (window.Count < InFlight)
                {
                    string name = $"topic-{next++:D4}";
                    window.Enqueue((name, client.SendAsync<CreateTopicsResponse>(CreateTopic(name), 7)));
                }
                // SIGKILL the active controller while a window of creations is in flight on it.
                if (killedId < 0 && acked.Count >= AckedBeforeKill)
                {
                    killedId = activeId;
                    ackedAtKill = acked.Count;
                    // kill(2) at once: Process.Kill(entireProcessTree) first walks /proc for a few
                    // milliseconds, long enough for the whole window to commit before the signal.
                    Assert.Equal(0, kill(_processes[killedId].Pid, SigKill));
                    killedAtMs = clock.ElapsedMilliseconds;
                    probe.Forget(killedId);
                    output.WriteLine($"SIGKILL controller {killedId} at {killedAtMs} ms with {window.Count} creations in flight, {acked.Count} acked");
                }
                var (topic, answer) = window.Dequeue();
                CreateTopicsResponse? response = null;
                try
                {
                    response = await answer.WaitAsync(Bound);
                }
                catch (IOException)
                {
                    // The connection died (the kill): this one and every later one in the window are unknown.
                }
                var code = response is null ? ErrorCode.NetworkException : (ErrorCode)Assert.Single(response.Topics).ErrorCode;
                if (code == ErrorCode.None)
                {
                    acked.Add(topic);
                    if (killedId >= 0 && activeId != killedId && firstAckAfterKillMs < 0) firstAckAfterKillMs = clock.ElapsedMilliseconds;
                    else if (activeId == killedId && killedId >= 0) ackedByKilledAfterKill++; // answers already on their way when it died
                    continue;
                }
                if (code is not (ErrorCode.NetworkException or ErrorCode.NotController))
                {
                    refused.Add($"{topic}: {code}");
                    continue;
                }
                // Not controller any more, or gone: everything in flight is unknown; find the active one again.
                unacked.Add(topic);
                foreach (var (name, rest) in window)
                {
                    try { await rest.WaitAsync(Bound); } catch (IOException) { }
                    unacked.Add(name); // whatever it says, it is counted as not acknowledged
                }
                window.Clear();
                client.Dispose();
                client = null;
                await Task.Delay(20);
            }
            while (window.Count > 0)
            {
                var (name, rest) = window.Dequeue();
                try
                {
                    if (Assert.Single((await rest.WaitAsync(Bound)).Topics).ErrorCode == 0) { acked.Add(name); continue; }
                }
                catch (IOException) { }
                unacked.Add(name);
            }
            Assert.False(client?.OutOfOrder ?? false);
            client?.Dispose();
            client = null;

            output.WriteLine($"sent {next} CreateTopics ({InFlight} in flight): {acked.Count} acknowledged ({ackedAtKill} before the kill), " +
                             $"{unacked.Count} not acknowledged, {reconnects} connections to an active controller; " +
                             $"{ackedByKilledAfterKill} answers of the killed controller arrived after the SIGKILL");
            Assert.True(firstAckAfterKillMs > killedAtMs, "no CreateTopics acknowledged by a new active controller");
            output.WriteLine($"from SIGKILL to the first acknowledged CreateTopics on the new active controller: {firstAckAfterKillMs - killedAtMs} ms " +
                             $"(election timeout {ElectionTimeoutMs} ms)");
            Assert.Empty(refused);

            // Stop the survivors gracefully and read what their logs hold.
            var survivors = Ids.Where(id => id != killedId).ToList();
            foreach (var id in survivors) _processes[id].Terminate();
            foreach (var id in survivors) Assert.True(await _processes[id].WaitForExitAsync(Bound) == 0, _processes[id].Transcript());
            LogComparison.AssertIdentical(_dir, survivors, long.MaxValue, output);
            var sent = new HashSet<string>(acked.Concat(unacked));
            foreach (var id in survivors)
            {
                var image = LoadImage(id);
                foreach (var name in acked)
                    Assert.True(image.Topics.Topic(name) is { PartitionCount: Partitions }, $"controller {id}: acknowledged {name} is missing or partial");
                int present = 0;
                foreach (var name in unacked)
                {
                    var topic = image.Topics.Topic(name);
                    Assert.True(topic is null || topic.PartitionCount == Partitions, $"controller {id}: {name} has {topic?.PartitionCount} partitions");
                    if (topic is not null) present++;
                }
                Assert.All(image.Topics.TopicsByName.Keys, name => Assert.Contains(name, sent));
                output.WriteLine($"controller {id}: {image.Topics.TopicsByName.Count} topics in the log; of the {unacked.Count} unacknowledged, {present} present (whole), {unacked.Count - present} absent");
            }
        }
        catch
        {
            foreach (var p in _processes.Values) output.WriteLine(p.Transcript(120));
            throw;
        }
        finally
        {
            client?.Dispose();
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    /// <summary>Node <paramref name="id"/>'s whole metadata log (no snapshot is expected: the log starts at 0), through <see cref="MetadataLoader"/>.</summary>
    private MetadataImage LoadImage(int id)
    {
        var log = PartitionLog.Open(Path.Combine(_dir.MetadataDir(id), PartitionLogRaftLog.MetadataPartition.DirectoryName),
            PartitionLogRaftLog.MetadataPartition, LogConfig.Default, SystemClock.Instance, new LogOpenOptions());
        try
        {
            Assert.Equal(0, log.LogStartOffset);
            var loader = new MetadataLoader();
            long next = 0;
            while (next < log.LogEndOffset)
            {
                var bytes = log.Read(next, 1 << 20, long.MaxValue).ToArray();
                var reader = new RecordBatchReader(bytes);
                bool any = false;
                while (reader.MoveNext())
                {
                    var batch = reader.Current;
                    loader.Handle(new CommittedBatch(batch.BaseOffset, batch.LastOffset, batch.PartitionLeaderEpoch, batch.MaxTimestamp, batch.IsControl, batch.Bytes.ToArray()));
                    next = batch.LastOffset + 1;
                    any = true;
                }
                Assert.True(any, $"no whole batch at offset {next} of controller {id}'s log");
            }
            return loader.Image;
        }
        finally
        {
            log.Close();
        }
    }
}
