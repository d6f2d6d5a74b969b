using System.Text;
using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;
using static Fjord.Raft.Tests.ElectionTests;
using static Fjord.Raft.Tests.Harness;

namespace Fjord.Raft.Tests;

/// <summary>KIP-630 snapshots: creation, the log start, FetchSnapshot on both sides, loading on start.</summary>
public sealed class SnapshotTests
{
    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    /// <summary>Leader proposes (when given values), flushes, and voter 2 fetches up to the end: everything is committed.</summary>
    private static long Commit(Harness h, params string[] values)
    {
        if (values.Length > 0) Assert.NotNull(h.Node.Propose([.. values.Select(Utf8)], h.Now));
        h.Node.Flush(h.Now);
        long end = h.Log.EndOffset;
        h.Request<FetchResponse>(2, Fetch(2, h.Node.Epoch, end, h.Log.LastEpoch));
        Assert.Equal(end, h.Node.HighWatermark);
        return end;
    }

    private static OffsetAndEpoch Snapshot(RaftNode node, long endOffset, long now, params string[] state)
    {
        using var writer = node.CreateSnapshot(endOffset, now);
        foreach (var value in state) writer.Append([Utf8(value)]);
        return writer.Freeze();
    }

    private static byte[] WholeSnapshot(IRaftLog log, OffsetAndEpoch id) => log.ReadSnapshot(id, 0, int.MaxValue)!.Value.Bytes.ToArray();

    private static List<string> Values(SnapshotLoad load) => [.. load.ReadValues().Select(v => Encoding.UTF8.GetString(v))];

    private static FetchSnapshotRequest SnapshotRequest(int replica, int epoch, OffsetAndEpoch id, long position, int maxBytes = int.MaxValue,
        string clusterId = ClusterId) => RaftRpc.FetchSnapshotRequest(clusterId, replica, epoch, id, position, maxBytes);

    private static FetchSnapshotResponse.PartitionSnapshot SnapPart(FetchSnapshotResponse r) => RaftRpc.Single(r)!;

    /// <summary>A leader of epoch 5 with [LC 0][a,b 1-2][c 3] committed (the a,b batch at t=100) and [d 4] not yet.</summary>
    private static Harness LeaderWithUncommittedTail()
    {
        var h = Harness.Leader(epoch: 5);
        h.Request<FetchResponse>(2, Fetch(2, 5, 1, 5));
        h.Now = 100;
        Assert.Equal(3, Commit(h, "a", "b"));
        h.Now = 150;
        Assert.Equal(4, Commit(h, "c"));
        h.Node.Propose([Utf8("d")], h.Now);
        h.Node.Flush(h.Now);
        Assert.Equal((5L, 4L), (h.Log.EndOffset, h.Node.HighWatermark));
        return h;
    }

    [Fact]
    public void A_snapshot_is_refused_past_the_high_watermark_at_or_below_the_log_start_and_inside_a_batch()
    {
        var h = LeaderWithUncommittedTail();
        Assert.Throws<ArgumentOutOfRangeException>(() => h.Node.CreateSnapshot(5, h.Now));   // [d 4] is not committed
        Assert.Throws<ArgumentOutOfRangeException>(() => h.Node.CreateSnapshot(2, h.Now));   // inside [a,b 1-2]
        Assert.Throws<ArgumentOutOfRangeException>(() => h.Node.CreateSnapshot(0, h.Now));   // the log start itself
        Assert.Equal(0, h.Log.OpenSnapshotWriters);

        Assert.Equal(new OffsetAndEpoch(3, 5), Snapshot(h.Node, 3, h.Now, "state"));
        Assert.Throws<ArgumentOutOfRangeException>(() => h.Node.CreateSnapshot(3, h.Now));   // not after the latest snapshot
        Assert.Throws<ArgumentOutOfRangeException>(() => h.Node.CreateSnapshot(1, h.Now));   // below the log start
        using var next = h.Node.CreateSnapshot(4, h.Now);
        Assert.Equal(new OffsetAndEpoch(4, 5), next.Id);
    }

    [Fact]
    public void A_frozen_snapshot_moves_the_log_start_to_its_end_and_replaces_older_snapshots()
    {
        var h = LeaderWithUncommittedTail();
        var writer = h.Node.CreateSnapshot(3, h.Now);
        writer.Append([Utf8("s1"), Utf8("s2")]);
        Assert.Null(h.Node.LatestSnapshotId);                    // invisible until frozen
        Assert.Equal(0, h.Node.LogStartOffset);
        writer.Freeze();
        writer.Dispose();

        Assert.Equal(new OffsetAndEpoch(3, 5), h.Node.LatestSnapshotId);
        Assert.Equal(3, h.Node.LogStartOffset);
        Assert.Equal([3L, 4L], h.Log.Batches.Select(b => b.BaseOffset));
        Assert.Equal(5, h.Log.EndOffset);

        // Kafka's layout: a SNAPSHOT_HEADER control batch (with the timestamp of the last batch it
        // contains), the data, a SNAPSHOT_FOOTER control batch; offsets from 0, the snapshot's epoch.
        var bytes = WholeSnapshot(h.Log, new OffsetAndEpoch(3, 5));
        var batches = FetchTests.Batches(bytes);
        Assert.Equal(3, batches.Count);
        Assert.Equal([0L, 1L, 3L], batches.Select(b => b.BaseOffset));
        Assert.All(batches, b => Assert.Equal(5, b.PartitionLeaderEpoch));
        Assert.Equal([true, false, true], batches.Select(b => b.IsControl));
        var (headerType, headerValue) = Assert.Single(ControlRecords(batches[0]));
        Assert.Equal(ControlRecordType.SnapshotHeader, headerType);
        Assert.Equal(100, KafkaMessages.Deserialize<SnapshotHeaderRecord>(headerValue, 0).LastContainedLogTimestamp);
        Assert.Equal(ControlRecordType.SnapshotFooter, Assert.Single(ControlRecords(batches[2])).Type);
        Assert.Equal(["s1", "s2"], Values(new SnapshotLoad(new OffsetAndEpoch(3, 5), bytes)));

        // A writer disposed unfrozen leaves nothing.
        var abandoned = h.Node.CreateSnapshot(4, h.Now);
        abandoned.Append([Utf8("x")]);
        abandoned.Dispose();
        Assert.Equal((new OffsetAndEpoch(3, 5), 3L, 0), (h.Node.LatestSnapshotId!.Value, h.Node.LogStartOffset, h.Log.OpenSnapshotWriters));
        Assert.Throws<InvalidOperationException>(() => abandoned.Freeze());

        // A newer snapshot replaces it; one at the log end leaves an empty log that still knows its epoch.
        Assert.Equal(5, Commit(h));
        Snapshot(h.Node, 5, h.Now, "s3");
        Assert.Equal([new OffsetAndEpoch(5, 5)], h.Log.Snapshots);
        Assert.Equal((5L, 5L, 5), (h.Log.StartOffset, h.Log.EndOffset, h.Log.LastEpoch));
        Assert.Equal(new OffsetAndEpoch(5, 5), h.Log.EndOffsetForEpoch(7));
        Assert.Equal(new OffsetAndEpoch(-1, -1), h.Log.EndOffsetForEpoch(4));
        Assert.Equal(6, Commit(h, "e"));
        Assert.Equal([5L], h.Log.Batches.Select(b => b.BaseOffset));
    }

    private static List<(ControlRecordType Type, byte[] Value)> ControlRecords(RecordBatch batch)
    {
        var result = new List<(ControlRecordType, byte[])>();
        using var records = batch.OpenRecords(1 << 20);
        foreach (var record in records) result.Add((ControlRecordKey.Read(record.KeySpan).Type, record.Value.ToArray()));
        return result;
    }

    [Fact]
    public void The_leader_answers_a_fetch_its_log_cannot_serve_with_its_snapshot_id()
    {
        var h = LeaderWithUncommittedTail();
        var id = Snapshot(h.Node, 3, h.Now, "state");

        foreach (var (offset, epoch) in new (long, int)[] { (0, 0), (2, 5), (3, 4), (4, 2) })
        {
            // below the log start; at it with another epoch than the snapshot's; past it with an epoch older than any we know
            var answer = Part(h.Request<FetchResponse>(3, Fetch(3, 5, offset, epoch)));
            Assert.Equal(ErrorCode.None, (ErrorCode)answer.ErrorCode);
            Assert.Equal((id.Offset, id.Epoch), (answer.SnapshotId.EndOffset, answer.SnapshotId.Epoch));
            Assert.Equal(-1, answer.DivergingEpoch.Epoch);
            Assert.True(answer.Records is null || answer.Records.Value.IsEmpty);
            Assert.Equal((3L, 4L), (answer.LogStartOffset, answer.HighWatermark));
        }

        var served = Part(h.Request<FetchResponse>(3, Fetch(3, 5, 3, 5)));                    // at the log start, same epoch
        Assert.Equal(-1, served.SnapshotId.EndOffset);
        Assert.Equal([3L, 4L], FetchTests.Batches(served.Records).Select(b => b.BaseOffset));
        Assert.Equal(-1, Part(h.Request<FetchResponse>(3, Fetch(3, 5, 4, 5))).SnapshotId.EndOffset);
    }

    [Fact]
    public void FetchSnapshot_serves_the_snapshot_in_chunks_of_at_most_the_asked_and_configured_bytes()
    {
        var h = Harness.Leader(epoch: 5, config: TestCluster.DefaultConfig with { FetchSnapshotMaxBytes = 100 });
        h.Request<FetchResponse>(2, Fetch(2, 5, 1, 5));
        long end = Commit(h, "a", "b");
        var id = Snapshot(h.Node, end, h.Now, [.. Enumerable.Range(0, 20).Select(i => $"state-{i:D10}")]);
        var whole = WholeSnapshot(h.Log, id);
        Assert.True(whole.Length > 400);

        var first = SnapPart(h.Request<FetchSnapshotResponse>(3, SnapshotRequest(3, 5, id, 0, maxBytes: 64)));
        Assert.Equal(ErrorCode.None, (ErrorCode)first.ErrorCode);
        Assert.Equal(((long)whole.Length, 0L, 64), (first.Size, first.Position, first.UnalignedRecords!.Value.Length));
        Assert.Equal((1, 5), (first.CurrentLeader.LeaderId, first.CurrentLeader.LeaderEpoch));
        Assert.Equal((id.Offset, id.Epoch), (first.SnapshotId.EndOffset, first.SnapshotId.Epoch));

        var copy = new List<byte>(first.UnalignedRecords.Value.ToArray());
        while (copy.Count < whole.Length)
        {
            var chunk = SnapPart(h.Request<FetchSnapshotResponse>(3, SnapshotRequest(3, 5, id, copy.Count)));
            Assert.Equal((ErrorCode.None, (long)whole.Length, (long)copy.Count), ((ErrorCode)chunk.ErrorCode, chunk.Size, chunk.Position));
            Assert.Equal(Math.Min(100, whole.Length - copy.Count), chunk.UnalignedRecords!.Value.Length);
            copy.AddRange(chunk.UnalignedRecords.Value.ToArray());
        }
        Assert.Equal(whole, copy.ToArray());
    }

    [Fact]
    public void FetchSnapshot_checks_the_cluster_the_epoch_the_snapshot_and_the_position()
    {
        var h = LeaderWithUncommittedTail();
        var id = Snapshot(h.Node, 3, h.Now, "state");
        long size = WholeSnapshot(h.Log, id).Length;

        Assert.Equal(ErrorCode.InconsistentClusterId, (ErrorCode)h.Request<FetchSnapshotResponse>(3, SnapshotRequest(3, 5, id, 0, clusterId: "other")).ErrorCode);
        var cases = new (int Epoch, OffsetAndEpoch Id, long Position, ErrorCode Error)[]
        {
            (4, id, 0, ErrorCode.FencedLeaderEpoch),
            (6, id, 0, ErrorCode.UnknownLeaderEpoch),
            (5, new OffsetAndEpoch(3, 4), 0, ErrorCode.SnapshotNotFound),
            (5, new OffsetAndEpoch(2, 5), 0, ErrorCode.SnapshotNotFound),
            (5, id, -1, ErrorCode.PositionOutOfRange),
            (5, id, size, ErrorCode.PositionOutOfRange),
        };
        foreach (var (epoch, snapshot, position, error) in cases)
        {
            var answer = SnapPart(h.Request<FetchSnapshotResponse>(3, SnapshotRequest(3, epoch, snapshot, position)));
            Assert.Equal(error, (ErrorCode)answer.ErrorCode);
            Assert.True(answer.UnalignedRecords is null || answer.UnalignedRecords.Value.IsEmpty);
            Assert.Equal((1, 5), (answer.CurrentLeader.LeaderId, answer.CurrentLeader.LeaderEpoch));
        }

        // Not the leader: the follower names the leader it knows.
        var follower = new Harness(nodeId: 2, stored: Election(5, leader: 1));
        var refused = SnapPart(follower.Request<FetchSnapshotResponse>(3, SnapshotRequest(3, 5, id, 0)));
        Assert.Equal(ErrorCode.NotLeaderOrFollower, (ErrorCode)refused.ErrorCode);
        Assert.Equal((1, 5), (refused.CurrentLeader.LeaderId, refused.CurrentLeader.LeaderEpoch));
    }

    /// <summary>The leader's side for the follower tests: a snapshot at 4 (epoch 5) holding "state-0..29", then a tail [t1 4][t2 5] of epoch 5.</summary>
    private sealed record LeaderData(OffsetAndEpoch Id, byte[] Snapshot, ReadOnlyMemory<byte> Tail, long End);

    private static LeaderData MakeLeaderData()
    {
        var leader = LeaderWithUncommittedTail();
        Assert.Equal(5, Commit(leader));
        var id = Snapshot(leader.Node, 4, leader.Now, [.. Enumerable.Range(0, 30).Select(i => $"state-{i}")]);
        long end = Commit(leader, "t1");
        return new LeaderData(id, WholeSnapshot(leader.Log, id), leader.Log.Read(id.Offset, int.MaxValue, long.MaxValue).ToArray(), end);
    }

    /// <summary>Node 2, follower of 1 in epoch 5, holding a stale [e3 0-1]: its first fetch is answered with the snapshot id.</summary>
    private static (Harness Follower, FetchSnapshotRequest.PartitionSnapshot Request) FollowerToldToFetch(LeaderData data)
    {
        var h = new Harness(nodeId: 2, stored: Election(5, leader: 1), log: LogWith((3, 2)));
        var fetch = h.Drain().Single(m => m.Body is FetchRequest);
        Assert.Equal((2L, 3), (RaftRpc.Single((FetchRequest)fetch.Body)!.FetchOffset, RaftRpc.Single((FetchRequest)fetch.Body)!.LastFetchedEpoch));
        h.Answer(fetch, RaftRpc.FetchResponse(ErrorCode.None, 5, 1, data.End, data.Id.Offset, ReadOnlyMemory<byte>.Empty, snapshotId: data.Id));
        var request = (FetchSnapshotRequest)h.Drain().Single().Body;
        Assert.Equal((ClusterId, 2), (request.ClusterId, request.ReplicaId));
        var p = RaftRpc.Single(request)!;
        Assert.Equal((5, data.Id.Offset, data.Id.Epoch, 0L), (p.CurrentLeaderEpoch, p.SnapshotId.EndOffset, p.SnapshotId.Epoch, p.Position));
        return (h, p);
    }

    private static FetchSnapshotResponse Chunk(LeaderData data, long position, int length, long? size = null) =>
        RaftRpc.FetchSnapshotResponse(ErrorCode.None, 5, 1, data.Id, size ?? data.Snapshot.Length, position, data.Snapshot.AsMemory((int)position, length));

    [Fact]
    public void A_follower_behind_the_leaders_log_start_copies_the_snapshot_in_chunks_then_resumes_fetching_after_it()
    {
        var data = MakeLeaderData();
        var (h, _) = FollowerToldToFetch(data);
        int total = data.Snapshot.Length, position = 0;
        foreach (int length in new[] { 50, 100, total - 150 })
        {
            var request = h.Sent[^1];
            Assert.Equal(position, RaftRpc.Single((FetchSnapshotRequest)request.Body)!.Position);
            h.Answer(request, Chunk(data, position, length));
            position += length;
            Assert.Equal(position < total ? 1 : 0, h.Log.OpenSnapshotWriters);
            if (position < total)
            {
                Assert.Empty(h.Node.DrainCommitted());
                Assert.Equal(0, h.Log.StartOffset);                        // nothing changes before the whole snapshot is here
                h.Drain();
            }
        }

        // Installed: the log restarts empty after the snapshot, which the state machine loads.
        Assert.Equal([data.Id], h.Log.Snapshots);
        Assert.Equal((4L, 4L, 5), (h.Log.StartOffset, h.Log.EndOffset, h.Log.LastEpoch));
        Assert.Equal(4, h.Node.HighWatermark);
        var load = Assert.IsType<SnapshotLoad>(Assert.Single(h.Node.DrainCommitted()));
        Assert.Equal(data.Id, load.Id);
        Assert.Equal(data.Snapshot, load.Bytes.ToArray());
        Assert.Equal([.. Enumerable.Range(0, 30).Select(i => $"state-{i}")], Values(load));

        // Fetching resumes from the snapshot's end; later batches follow the load.
        var fetch = h.Drain().Single();
        var p = RaftRpc.Single((FetchRequest)fetch.Body)!;
        Assert.Equal((4L, 5), (p.FetchOffset, p.LastFetchedEpoch));
        h.Answer(fetch, RaftRpc.FetchResponse(ErrorCode.None, 5, 1, data.End, 4, data.Tail));
        var batches = h.Node.DrainCommitted().Select(item => Assert.IsType<CommittedBatch>(item)).ToList();
        Assert.Equal([4L, 5L], batches.Select(b => b.BaseOffset));
        Assert.Equal(data.End, h.Node.HighWatermark);
    }

    public enum BadAnswer { WrongPosition, SizeChanged, Overflowing, SnapshotNotFound, PositionOutOfRange }

    [Theory]
    [InlineData(BadAnswer.WrongPosition)]
    [InlineData(BadAnswer.SizeChanged)]
    [InlineData(BadAnswer.Overflowing)]
    [InlineData(BadAnswer.SnapshotNotFound)]
    [InlineData(BadAnswer.PositionOutOfRange)]
    public void An_unexpected_chunk_or_an_error_abandons_the_copy_and_the_follower_fetches_again(BadAnswer bad)
    {
        var data = MakeLeaderData();
        var (h, _) = FollowerToldToFetch(data);
        h.Answer(h.Sent[^1], Chunk(data, 0, 50));
        var second = h.Drain().Single();
        Assert.Equal(50, RaftRpc.Single((FetchSnapshotRequest)second.Body)!.Position);
        h.Answer(second, bad switch
        {
            BadAnswer.WrongPosition => Chunk(data, 0, 50),
            BadAnswer.SizeChanged => Chunk(data, 50, 50, size: data.Snapshot.Length + 1),
            BadAnswer.Overflowing => Chunk(data, 50, 50, size: 60),
            BadAnswer.SnapshotNotFound => RaftRpc.FetchSnapshotResponse(ErrorCode.SnapshotNotFound, 5, 1, data.Id, -1, 50, ReadOnlyMemory<byte>.Empty),
            _ => RaftRpc.FetchSnapshotResponse(ErrorCode.PositionOutOfRange, 5, 1, data.Id, data.Snapshot.Length, 50, ReadOnlyMemory<byte>.Empty),
        });

        Assert.Equal(0, h.Log.OpenSnapshotWriters);
        Assert.Empty(h.Log.Snapshots);
        Assert.Equal((0L, 2L), (h.Log.StartOffset, h.Log.EndOffset));
        Assert.Empty(h.Drain());                                                  // a short pause first
        h.PollAt(h.Now + RequestTracker.RetryBackoffMs);
        var again = RaftRpc.Single((FetchRequest)h.Drain().Single().Body)!;        // a Fetch, to learn the current snapshot
        Assert.Equal((2L, 3), (again.FetchOffset, again.LastFetchedEpoch));
        Assert.Equal(RaftRole.Follower, h.Node.Role);
    }

    [Fact]
    public void A_copy_in_progress_is_abandoned_when_the_epoch_changes_and_a_late_chunk_is_ignored()
    {
        var data = MakeLeaderData();
        var (h, _) = FollowerToldToFetch(data);
        h.Answer(h.Sent[^1], Chunk(data, 0, 50));
        var pending = h.Drain().Single();
        Assert.Equal(1, h.Log.OpenSnapshotWriters);

        Assert.Equal(ErrorCode.None, (ErrorCode)RaftRpc.Single(h.Request<BeginQuorumEpochResponse>(3, RaftRpc.BeginQuorumEpochRequest(ClusterId, 2, 3, 6)))!.ErrorCode);
        Assert.Equal((RaftRole.Follower, 6, 3), (h.Node.Role, h.Node.Epoch, h.Node.LeaderId));
        Assert.Equal(0, h.Log.OpenSnapshotWriters);
        var fetch = h.Sent.Last(m => m.Body is FetchRequest);
        Assert.Equal(3, fetch.Destination);
        Assert.Equal(2, RaftRpc.Single((FetchRequest)fetch.Body)!.FetchOffset);

        h.Answer(pending, Chunk(data, 50, data.Snapshot.Length - 50));               // the old leader's answer, too late
        Assert.Empty(h.Log.Snapshots);
        Assert.Equal((0L, 2L), (h.Log.StartOffset, h.Log.EndOffset));
        Assert.Empty(h.Node.DrainCommitted());
    }

    [Fact]
    public void A_FetchSnapshot_without_an_answer_is_sent_again_from_the_same_position_after_the_request_timeout()
    {
        var data = MakeLeaderData();
        var (h, _) = FollowerToldToFetch(data);
        h.Answer(h.Sent[^1], Chunk(data, 0, 50));
        var lost = h.Drain().Single();
        h.PollAt(h.Now + h.Config.RequestTimeoutMs - 1);
        Assert.Empty(h.Drain());
        h.PollAt(h.Now + 1);
        var retry = h.Drain().Single();
        Assert.NotEqual(lost.CorrelationId, retry.CorrelationId);
        Assert.Equal(50, RaftRpc.Single((FetchSnapshotRequest)retry.Body)!.Position);
        h.Answer(lost, Chunk(data, 50, data.Snapshot.Length - 50));                  // the lost request's answer is stale now
        Assert.Empty(h.Log.Snapshots);
        h.Answer(retry, Chunk(data, 50, data.Snapshot.Length - 50));
        Assert.Equal([data.Id], h.Log.Snapshots);
        Assert.IsType<SnapshotLoad>(Assert.Single(h.Node.DrainCommitted()));
    }

    [Fact]
    public void A_higher_epoch_in_a_FetchSnapshot_answer_moves_the_follower_and_drops_the_copy()
    {
        var data = MakeLeaderData();
        var (h, _) = FollowerToldToFetch(data);
        h.Answer(h.Sent[^1], RaftRpc.FetchSnapshotResponse(ErrorCode.FencedLeaderEpoch, 7, 3, data.Id, -1, 0, ReadOnlyMemory<byte>.Empty));
        Assert.Equal((RaftRole.Follower, 7, 3), (h.Node.Role, h.Node.Epoch, h.Node.LeaderId));
        Assert.Equal(0, h.Log.OpenSnapshotWriters);
        Assert.Empty(h.Log.Snapshots);
    }

    [Fact]
    public void A_restart_delivers_the_snapshot_first_and_then_the_batches_after_it()
    {
        var log = new InMemoryRaftLog();
        var store = new InMemoryQuorumStateStore();
        var config = TestCluster.DefaultConfig;
        var node = new RaftNode(config, 1, [1], log, store, new Random(1), ClusterId, 0);
        Assert.Equal(RaftRole.Leader, node.Role);
        node.Flush(0);                                                               // LEADER_CHANGE at 0
        node.Propose([Utf8("a")], 0);
        node.Flush(0);
        node.Propose([Utf8("b")], 0);
        node.Flush(0);
        Assert.Equal(3, node.HighWatermark);
        Assert.Equal(3, node.DrainCommitted().Count);
        var id = Snapshot(node, 2, 0, "state-after-a");
        node.Propose([Utf8("c")], 0);
        node.Flush(0);
        Assert.Equal(4, node.HighWatermark);
        log.Crash();                                                                 // everything was flushed

        var restarted = new RaftNode(config, 1, [1], log, store, new Random(2), ClusterId, 10);
        var first = restarted.DrainCommitted();
        var load = Assert.IsType<SnapshotLoad>(first[0]);
        Assert.Equal(id, load.Id);
        Assert.Equal(["state-after-a"], Values(load));
        Assert.Equal(2, restarted.HighWatermark);                                    // the snapshot's end is committed
        Assert.Equal(RaftRole.Leader, restarted.Role);
        restarted.Flush(10);
        var rest = first.Skip(1).Concat(restarted.DrainCommitted()).Select(item => Assert.IsType<CommittedBatch>(item)).ToList();
        Assert.Equal([2L, 3L, 4L], rest.Select(b => b.BaseOffset));                  // b, c, the new LEADER_CHANGE
        Assert.Equal([false, false, true], rest.Select(b => b.IsControl));
    }

    /// <summary>Snapshot bytes as the core writes them (header, one data batch, footer).</summary>
    private static byte[] SnapshotBytes(int epoch, string value)
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions { BaseOffset = 1, PartitionLeaderEpoch = epoch });
        builder.Append(0, (byte[]?)null, Utf8(value));
        return [.. RaftSnapshotFormat.Header(epoch, 0, 0), .. builder.ToArray(), .. RaftSnapshotFormat.Footer(2, epoch, 0)];
    }

    [Theory]
    [InlineData(2, 1, 2, 5, 2)]   // the log holds the batch ending at 2, of epoch 1: the log start moves there, the tail stays
    [InlineData(2, 3, 2, 2, 3)]   // the batch ending at 2 is of epoch 1, not 3: the log diverges, restart after the snapshot
    [InlineData(9, 2, 9, 9, 2)]   // the snapshot is past the log end: restart after it
    public void On_start_a_snapshot_newer_than_the_log_start_takes_over_the_prefix(long end, int epoch, long start, long logEnd, int lastEpoch)
    {
        var log = LogWith((1, 2), (2, 3));                                           // [e1 0-1][e2 2-4]
        var id = new OffsetAndEpoch(end, epoch);
        using (var writer = log.CreateSnapshot(id))
        {
            writer.Append(SnapshotBytes(epoch, "x"));
            writer.Freeze();
        }
        var h = new Harness(nodeId: 2, stored: Election(3, leader: 1), log: log);
        Assert.Equal((start, logEnd, lastEpoch), (h.Log.StartOffset, h.Log.EndOffset, h.Log.LastEpoch));
        var load = Assert.IsType<SnapshotLoad>(Assert.Single(h.Node.DrainCommitted()));
        Assert.Equal((id, "x"), (load.Id, Encoding.UTF8.GetString(Assert.Single(load.ReadValues()))));
        Assert.Equal(end, h.Node.HighWatermark);

        var fetch = RaftRpc.Single((FetchRequest)h.Drain().Single(m => m.Body is FetchRequest).Body)!;
        Assert.Equal((logEnd, lastEpoch), (fetch.FetchOffset, fetch.LastFetchedEpoch));
    }

    [Fact]
    public void A_replica_cut_off_while_the_leader_snapshots_past_its_log_catches_up_through_the_snapshot()
    {
        var c = new TestCluster(3, config: TestCluster.DefaultConfig with { FetchSnapshotMaxBytes = 64 });
        var leader = c.ElectLeader();
        var lagging = c.Nodes[leader.Id % 3 + 1];
        for (int i = 0; i < 3; i++) c.Propose($"early-{i}");
        c.RunFor(100);
        c.Isolate(lagging.Id);
        for (int i = 0; i < 10; i++) c.Propose($"late-{i}");
        c.RunFor(100);
        Assert.Equal(RaftRole.Leader, leader.Raft.Role);
        long hw = leader.Raft.HighWatermark;
        Assert.True(hw > lagging.Log.EndOffset);

        var id = Snapshot(leader.Raft, hw, c.Now, [.. Enumerable.Range(0, 10).Select(i => $"image-{i}")]);
        Assert.Equal(hw, leader.Log.StartOffset);
        long before = lagging.Committed.Count;
        c.Heal();
        Assert.True(c.RunUntil(() => lagging.Raft.HighWatermark >= hw && lagging.Log.StartOffset == hw), string.Join("\n", c.Trace.TakeLast(30)));
        c.Propose("after");
        c.RunFor(100);

        Assert.Equal([id], lagging.Log.Snapshots);
        Assert.Equal(WholeSnapshot(leader.Log, id), WholeSnapshot(lagging.Log, id));
        Assert.Contains(c.Sent, m => m.Body is FetchSnapshotRequest && m.Source == lagging.Id);
        Assert.True(c.Sent.Count(m => m.Body is FetchSnapshotResponse && m.Destination == lagging.Id) > 1, "copied in several chunks");
        int loadAt = lagging.Items.FindIndex(item => item is SnapshotLoad);
        Assert.Equal(id, ((SnapshotLoad)lagging.Items[loadAt]).Id);
        var after = lagging.Items.Skip(loadAt + 1).Cast<CommittedBatch>().ToList();
        Assert.Equal(id.Offset, after[0].BaseOffset);
        for (int i = 1; i < after.Count; i++) Assert.Equal(after[i - 1].LastOffset + 1, after[i].BaseOffset);
        Assert.Equal(leader.Committed.Where(b => b.BaseOffset >= id.Offset).Select(b => b.Bytes.ToArray()), after.Select(b => b.Bytes.ToArray()));
        Assert.True(before < lagging.Committed.Count);
    }
}
