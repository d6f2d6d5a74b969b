using Fjord.Common;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;

namespace Fjord.Raft;

/// <summary>The fetching side (followers and observers): sending Fetch, applying the answer.</summary>
public sealed partial class RaftNode
{
    /// <summary>Fetch from our log end. Whatever the fetch offset reports must be durable (the
    /// leader counts a voter's fetch offset towards the high watermark), so flush first.</summary>
    private void SendFetch(int destination, long now)
    {
        if (_log.FlushedOffset < _log.EndOffset) _log.Flush();
        SendRequest(destination, RaftRpc.FetchRequest(_clusterId, NodeId, Epoch, LogEnd, _config.FetchMaxWaitMs, _config.FetchMaxBytes,
            _membership.DirectoryId), now);
    }

    /// <summary>
    /// Epoch news first (a newer leader or epoch moves us; an observer learns the leader from any
    /// voter's answer). Then, from our leader only: divergence → truncate; a snapshot id → fetch that
    /// snapshot (FetchSnapshot) instead; records → append, flush; then high watermark = min(leader's,
    /// our end). Anything else backs off before the next fetch.
    /// </summary>
    private void HandleFetchResponse(int source, FetchResponse response, long now)
    {
        if (response.ErrorCode != 0 || RaftRpc.Single(response) is not { } p)
        {
            _requests.BackOff(source, now);
            return;
        }
        var error = (ErrorCode)p.ErrorCode;
        int epoch = p.CurrentLeader.LeaderEpoch;
        if (HandleEpochOfResponse(error, RaftRpc.OptionalLeader(p.CurrentLeader.LeaderId), epoch, now)
            || error != ErrorCode.None || _quorum.State is not FollowerState follower || follower.LeaderId != source || epoch != follower.Epoch)
        {
            _requests.BackOff(source, now);
            return;
        }

        follower.RecordSuccessfulFetch(now);
        if (p.DivergingEpoch.Epoch >= 0)
        {
            TruncateDivergingLog(new OffsetAndEpoch(p.DivergingEpoch.EndOffset, p.DivergingEpoch.Epoch), source, now);
            return;
        }
        if (RaftRpc.SnapshotId(p) is { } snapshot)
        {
            StartSnapshotFetch(follower, source, snapshot, now);
            return;
        }
        var records = p.Records ?? ReadOnlyMemory<byte>.Empty;
        if (!records.IsEmpty && !AppendFromLeader(records, follower.Epoch, now)) return;
        if (p.HighWatermark >= 0) AdvanceHighWatermark(Math.Min(p.HighWatermark, _log.EndOffset));
    }

    /// <summary>Appends the whole batches of a fetch answer (a cut-off last batch is left for the
    /// next fetch) and flushes. False when the answer does not continue our log (a stale answer).</summary>
    private bool AppendFromLeader(ReadOnlyMemory<byte> records, int epoch, long now)
    {
        var reader = new RecordBatchReader(records, allowTruncatedTail: true);
        long? first = null;
        while (reader.MoveNext())
        {
            var batch = reader.Current;
            first ??= batch.BaseOffset;
            if (batch.PartitionLeaderEpoch > epoch)
                throw new InvalidOperationException($"node {NodeId}: leader of epoch {epoch} sent a batch of epoch {batch.PartitionLeaderEpoch}");
        }
        if (first is null) return true;
        if (first != _log.EndOffset)
        {
            _trace?.Invoke($"t={now} ignored fetched records at {first}: our log ends at {_log.EndOffset}");
            return false;
        }
        _log.AppendAsFollower(records[..reader.Position]);
        _log.Flush();
        OnFollowerAppended(records[..reader.Position], now);
        return true;
    }

    /// <summary>
    /// Kafka's truncation rule: if our log holds the diverging epoch, cut at the smaller of where
    /// it ends in ours and in the leader's; otherwise cut where our largest earlier epoch ends. Never
    /// past the leader's end offset for that epoch nor our own end; never below the high watermark.
    /// </summary>
    private void TruncateDivergingLog(OffsetAndEpoch diverging, int leaderId, long now)
    {
        long target;
        if (diverging.Epoch == 0) target = diverging.Offset;
        else
        {
            var local = _log.EndOffsetForEpoch(diverging.Epoch);
            target = local.Epoch < 0 ? _log.StartOffset
                : local.Epoch == diverging.Epoch ? Math.Min(local.Offset, diverging.Offset)
                : local.Offset;
        }
        target = Math.Max(_log.StartOffset, Math.Min(target, Math.Min(diverging.Offset, _log.EndOffset)));
        if (target < _highWatermark)
            throw new InvalidOperationException($"node {NodeId}: leader {leaderId} asks to truncate to {target}, below the high watermark {_highWatermark}");
        _trace?.Invoke($"t={now} log diverges from leader {leaderId} at epoch {diverging.Epoch} end {diverging.Offset}: truncating {_log.EndOffset} → {target}");
        _log.TruncateTo(target);
        OnTruncated(target, now);
        if (_log.EndOffset < _highWatermark)
            throw new InvalidOperationException($"node {NodeId}: truncation left the log end {_log.EndOffset} below the high watermark {_highWatermark}");
    }
}
