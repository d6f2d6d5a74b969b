using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Fjord.Protocol;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;
using Fjord.Raft;

namespace Fjord.Server.Raft;

/// <summary>
/// Runs one <see cref="RaftNode"/> over real TCP with Kafka framing. The node is single-threaded:
/// one round at a time runs it, under the driver's node lock — on the driver's node thread, or
/// inline on the thread that brought the work when the node is free (see "Threading" below). The
/// driver is the only place that reads a clock for the node: <see cref="Now"/>, monotonic
/// (<see cref="Now()"/>) but counted from the wall clock at construction, so that batch timestamps the node writes and the fetch
/// timestamps DescribeQuorum reports are Unix milliseconds, as Kafka's are.
/// </summary>
/// <remarks>
/// Wire conventions:
/// <list type="bullet">
/// <item>Every Raft RPC (Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch, FetchSnapshot) carries a
/// Kafka <see cref="RequestHeader"/> whose <c>ClientId</c> is <c>raft-&lt;sender node id&gt;</c>
/// (e.g. <c>raft-2</c>); that is how the receiver learns the RaftMessage's <c>Source</c>. A Raft RPC
/// with another client id closes its connection.</item>
/// <item>The listener also serves clients that are not Raft peers (any client id; see
/// <see cref="ControllerListenerApis"/>): ApiVersions and DescribeCluster are answered by the driver,
/// DescribeQuorum by the node, with the connection's own pseudo source id (negative, unique per
/// inbound connection, so never a node id); the APIs of <see cref="RequestHandler"/> (the
/// controller's broker and admin RPCs) by it, asynchronously. Every answer but a Raft RPC's keeps
/// its request's place: answers on a connection leave in request order, each as soon as those
/// before it have left (<see cref="RaftConnection.ReserveAnswer"/>). Any other API closes the connection (logged).</item>
/// <item>Requests go out at the highest version of their API (<c>KafkaApis.Find(key).Versions.Highest</c>);
/// responses come back on the connection the request arrived on, at the request's version.</item>
/// <item>Outbound connections are opened lazily per destination; on any failure the connection is
/// closed, its in-flight requests are forgotten (Raft retries on its own timers), and the next
/// send opens a new one. Frames above 100 MiB or that do not decode close the connection.</item>
/// </list>
/// Threading. Threads: the node thread (timers, and whatever was queued while the node was busy),
/// one thread per connection (<see cref="RaftConnection"/>: reads its socket, blocking in poll; a
/// second one writes only when the socket buffer is full), the flusher (the leader's fsync), and
/// the accept loop (thread pool). A round of the node — due timers, the queued items in order, the
/// new item, then proposals and flush bookkeeping, each answer sent as soon as it is produced —
/// holds the node lock. A connection thread with a frame it just read, a caller of
/// <see cref="ProposeAsync"/>, and the flusher with a completed flush each run that round themselves
/// when the lock is free (the frame's request or response, the proposal, the flush's progress are
/// handled there; a follower's append and fsync thus run on the thread that read the leader's
/// answer), else queue the item in a bounded channel and wake the node thread. That spares the
/// thread hand-offs that dominated a commit's latency on a small machine: a commit's path is
/// proposer → (socket) follower connection thread → (socket) leader connection thread, with no
/// other wake-up. Consequences: <c>onCommitted</c> (and listener answers) run on whichever thread
/// runs the round — never two at once, always in order, but not always the node thread; it must be
/// short and must not wait for the driver (a proposal it makes is queued, not run re-entrantly).
/// <see cref="ProposeAsync"/> may do a round's work (append, sends, deliveries) on its caller's
/// thread before it returns. A leader calls back for a commit before it tells the followers the new
/// high watermark; a follower sends its next fetch before it calls back.
/// Proposals and flushing: the proposals a round finds (queued, plus its own) are appended as one
/// batch (<see cref="ProposeAsync"/>); the flusher thread is woken for it and the answers that gives parked
/// fetches are sent meanwhile, so the leader's fsync starts about when the followers get the data —
/// it runs on the flusher, while the node keeps answering fetches — after which the node counts the
/// leader's flushed end offset (<see cref="RaftNode.Flush"/>). So the <see cref="IRaftLog"/> must allow <see cref="IRaftLog.Flush"/>
/// concurrently with its other members (<see cref="PartitionLogRaftLog"/> does). Proposals arriving
/// during a flush wait for it and are appended together after it.
/// Usage: construct (binds the listener, so <see cref="BoundPort"/> is known), then
/// <see cref="Start"/> with the voters' endpoints; <see cref="Dispose"/> stops everything (and
/// returns only once nothing touches the log any more, so the caller may close it).
/// </remarks>
public sealed partial class RaftNetworkDriver : IDisposable
{
    private const int ChannelCapacity = 4096;
    private const int MaxWaitMs = 500;
    /// <summary>Coalesced proposals stay well below the log's largest batch (max.message.bytes, 1 MiB).</summary>
    private const long MaxCoalescedBytes = 512 * 1024;
    private const int RecordOverheadBytes = 24;

    private readonly int _nodeId;
    private readonly RaftConfig _config;
    private readonly IRaftLog _log;
    private readonly IQuorumStateStore _store;
    private readonly string _clusterId;
    private readonly Action<CommittedItem> _onCommitted;
    private readonly Action<string> _logLine;
    private readonly TcpListener? _listener; // null: an observer, which accepts nothing
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<object> _inbox = Channel.CreateBounded<object>(new BoundedChannelOptions(ChannelCapacity)
    { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    // Wakes the node thread without a thread-pool hop (a starved pool must not delay Raft's timers).
    // Spin count 0, here and for _flushRequested: a waiter blocks at once instead of spinning with
    // sched_yield first. Those spins (thousands of yields a second per thread, seen with perf trace in
    // the commit bench) took CPU from the threads on a commit's path on a 2-core machine; p50 commit
    // latency 0.52-0.53 ms with the default spin, 0.48-0.52 ms without (3 alternating runs each).
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
    // Held by whoever runs a round of the node: the node thread, or a thread running one inline
    // (TryRunInline). Everything marked "node lock" below is guarded by it.
    private readonly Lock _nodeLock = new();
    private long _sleepUntil = long.MaxValue; // Now() until which the node thread waits (written under _nodeLock)
    private readonly List<RaftConnection> _inbound = [];
    private readonly Dictionary<int, RaftConnection> _outbound = []; // this and the next: node lock
    private readonly Dictionary<(int Peer, int CorrelationId), (RaftConnection Connection, short Version, RaftConnection.PendingAnswer? Answer)> _awaitingResponse = [];
    private IReadOnlyDictionary<int, IPEndPoint> _voters = new Dictionary<int, IPEndPoint>();
    // KIP-853 (node lock): controller.quorum.bootstrap.servers under pseudo ids (int.MinValue + i),
    // and endpoints learned from NodeEndpoints / LeaderEndpoints of the messages that pass by.
    private readonly Dictionary<int, (string Host, int Port)> _bootstrap = [];
    private readonly Dictionary<int, (string Host, int Port)> _learned = [];
    private ControllerListenerInfo _listenerInfo = new("CONTROLLER", []);
    private RaftMembership? _membership; // set by StartDynamic: a dynamic quorum
    private int _lastClientSource = -1; // pseudo source ids of inbound connections: -2, -3, ...
    private readonly List<Proposal> _pending = []; // this and the next: node lock
    private bool _flushing; // the flusher thread owns a flush request no round has seen complete yet
    // The leader's fsync runs on a thread of its own (FlushLoop), so the node keeps answering
    // fetches meanwhile. Set by a round, reset by the flusher:
    private readonly ManualResetEventSlim _flushRequested = new(false, spinCount: 0);
    private volatile bool _flushCompleted; // set by the flusher (with _flushError on failure), cleared by a round
    private Exception? _flushError;
    private Thread? _flusher;
    private RaftNode? _node;
    private Thread? _thread;
    private int _disposed;
    private readonly long _wallAtStart = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    private readonly long _tickAtStart = Environment.TickCount64;

    private volatile int _role = (int)RaftRole.Unattached;
    private volatile int _epoch;
    private volatile int _leaderId = -1;
    private long _highWatermark;
    private volatile Exception? _fault;

    /// <param name="listenOn">Where to accept connections; null for an observer, which only fetches
    /// (nobody sends requests to an observer, so it needs no listener and no port).</param>
    public RaftNetworkDriver(int nodeId, IPEndPoint? listenOn, RaftConfig config, IRaftLog log, IQuorumStateStore store,
        string clusterId, Action<CommittedItem> onCommitted, Action<string>? logLine = null)
    {
        _nodeId = nodeId;
        _config = config ?? throw new ArgumentNullException(nameof(config));
        _log = log ?? throw new ArgumentNullException(nameof(log));
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _clusterId = clusterId ?? throw new ArgumentNullException(nameof(clusterId));
        _onCommitted = onCommitted ?? throw new ArgumentNullException(nameof(onCommitted));
        _logLine = logLine ?? (_ => { });
        if (listenOn is null) return;
        _listener = new TcpListener(listenOn);
        _listener.Start();
        BoundPort = ((IPEndPoint)_listener.LocalEndpoint).Port;
    }

    public int NodeId => _nodeId;
    /// <summary>The listener's port (0: no listener, an observer).</summary>
    public int BoundPort { get; }
    public RaftRole Role => (RaftRole)_role;
    public int Epoch => _epoch;
    public int? LeaderId => _leaderId < 0 ? null : _leaderId;
    public long HighWatermark => Interlocked.Read(ref _highWatermark);
    /// <summary>The exception that stopped the node loop (a Raft invariant violation), if any.</summary>
    public Exception? Fault => _fault;

    /// <summary>How DescribeCluster and DescribeQuorum describe the voters to clients (listener name,
    /// host and port as configured). When not set, <see cref="Start"/> describes them by the
    /// addresses it is given, on a listener named CONTROLLER.</summary>
    public ControllerListenerInfo? ListenerInfo { get; init; }

    /// <summary>The application answering the controller's broker and admin RPCs on this listener
    /// (see <see cref="IControllerRequestHandler"/>); without one, those APIs close the connection.</summary>
    public IControllerRequestHandler? RequestHandler { get; init; }

    /// <summary>
    /// Starts a node of a dynamic quorum (KIP-853): its voter set comes from its log; until it knows
    /// a leader it asks <paramref name="bootstrapServers"/> (<c>controller.quorum.bootstrap.servers</c>),
    /// which the node addresses by pseudo ids. Destinations are resolved from the voter set's endpoints
    /// (on <see cref="ListenerInfo"/>'s listener name) and from endpoints other nodes announce.
    /// </summary>
    public void StartDynamic(RaftMembership membership, IReadOnlyList<(string Host, int Port)> bootstrapServers)
    {
        ArgumentNullException.ThrowIfNull(membership);
        ArgumentNullException.ThrowIfNull(bootstrapServers);
        if (_thread is not null) throw new InvalidOperationException("already started");
        var ids = new List<int>();
        for (int i = 0; i < bootstrapServers.Count; i++)
        {
            int id = int.MinValue + i;
            _bootstrap[id] = bootstrapServers[i];
            ids.Add(id);
        }
        _listenerInfo = ListenerInfo ?? new ControllerListenerInfo("CONTROLLER", []);
        _membership = membership;
        _node = new RaftNode(_config, membership with { NodeId = _nodeId, BootstrapServers = ids }, _log, _store, new Random(), _clusterId,
            Now(), line => _logLine(line));
        StartThreads();
    }

    /// <summary>The voter set in force on the node (dynamic quorums: as its log says).</summary>
    public VoterSet? Voters => Volatile.Read(ref _publishedVoters);
    private VoterSet? _publishedVoters;

    /// <summary>Creates the node (with the voters' ids) and starts the accept loop and the node thread.</summary>
    public void Start(IReadOnlyDictionary<int, IPEndPoint> voters)
    {
        ArgumentNullException.ThrowIfNull(voters);
        if (_thread is not null) throw new InvalidOperationException("already started");
        _voters = new Dictionary<int, IPEndPoint>(voters);
        _listenerInfo = ListenerInfo ?? new ControllerListenerInfo("CONTROLLER",
            [.. voters.OrderBy(v => v.Key).Select(v => new QuorumVoter(v.Key, new HostPort(v.Value.Address.ToString(), v.Value.Port)))]);
        _node = new RaftNode(_config, _nodeId, [.. voters.Keys], _log, _store, new Random(), _clusterId, Now(),
            line => _logLine(line));
        StartThreads();
    }

    private void StartThreads()
    {
        // What the node recovered from disk is visible at once (not only after the thread's first round).
        var node = _node!;
        _role = (int)node.Role;
        _epoch = node.Epoch;
        _leaderId = node.LeaderId ?? -1;
        Volatile.Write(ref _publishedVoters, node.Voters);
        if (_listener is not null) _ = Task.Run(() => AcceptLoopAsync(_listener));
        _flusher = new Thread(FlushLoop) { IsBackground = true, Name = $"raft-flush-{_nodeId}" };
        _flusher.Start();
        _thread = new Thread(NodeLoop) { IsBackground = true, Name = $"raft-node-{_nodeId}" };
        _thread.Start();
    }

    /// <summary>
    /// Proposes records; completes with the offset of the last one (once appended on the leader, not
    /// yet committed), or null when this node is not the leader. Proposals queued together are
    /// appended as one batch with one flush (see <see cref="ProposePending"/>); each still completes
    /// with its own last offset, and its records stay contiguous and in order.
    /// </summary>
    public Task<long?> ProposeAsync(IReadOnlyList<byte[]> records, CancellationToken cancellationToken = default) =>
        ProposeCoreAsync(records, null, cancellationToken);

    /// <summary>
    /// As <see cref="ProposeAsync(IReadOnlyList{byte[]}, CancellationToken)"/>, but only while this node
    /// leads epoch <paramref name="expectedEpoch"/>: checked in the round that appends, so records
    /// computed in one epoch can never be appended in a later one (null then, nothing appended).
    /// </summary>
    public Task<long?> ProposeAsync(IReadOnlyList<byte[]> records, int expectedEpoch, CancellationToken cancellationToken = default) =>
        ProposeCoreAsync(records, expectedEpoch, cancellationToken);

    private async Task<long?> ProposeCoreAsync(IReadOnlyList<byte[]> records, int? expectedEpoch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0) throw new ArgumentException("a batch needs at least one record", nameof(records));
        var proposal = new Proposal(records, new TaskCompletionSource<long?>(TaskCreationOptions.RunContinuationsAsynchronously)) { ExpectedEpoch = expectedEpoch };
        if (!TryRunInline(proposal)) await PostAsync(proposal, cancellationToken).ConfigureAwait(false);
        return await proposal.Result.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Queues an item for the node thread and wakes it.</summary>
    private async ValueTask PostAsync(object item, CancellationToken cancellationToken)
    {
        await _inbox.Writer.WriteAsync(item, cancellationToken).ConfigureAwait(false);
        _wake.Set();
    }

    /// <summary>Connection threads: handles <paramref name="item"/> at once on this thread when the
    /// node is free (<see cref="TryRunInline"/>), else queues it for the node thread — waiting while
    /// the inbox is full, which holds back reading that connection.</summary>
    private void Submit(object item)
    {
        if (TryRunInline(item)) return;
        if (!_inbox.Writer.TryWrite(item)) _inbox.Writer.WriteAsync(item, _stop.Token).AsTask().GetAwaiter().GetResult();
        _wake.Set();
    }

    private sealed record Proposal(IReadOnlyList<byte[]> Records, TaskCompletionSource<long?> Result)
    {
        /// <summary>Append only while leading this epoch (null: whatever the epoch).</summary>
        public int? ExpectedEpoch { get; init; }

        /// <summary>Roughly what the records take in a batch (value + per-record framing), to bound coalescing.</summary>
        public long EstimatedBytes { get; } = Records.Sum(r => (long)r.Length + RecordOverheadBytes);
    }
    /// <summary>A request for the node; <paramref name="Answer"/>: its place in the connection's answer order (null for Raft RPCs, answered as soon as the node answers).</summary>
    private sealed record InboundRequest(RaftMessage Message, RaftConnection Connection, short Version, RaftConnection.PendingAnswer? Answer);
    /// <summary>A request the driver answers itself from the node's state, in a round of the node, into its place in the connection's answer order.</summary>
    private sealed record ListenerRequest(RaftConnection Connection, RaftConnection.PendingAnswer Place, Func<byte[]> Answer);
    private sealed record ResignRequest(TaskCompletionSource Done);

    /// <summary>In a round of the node: sends a listener answer. What a client asked must never stop the node,
    /// so an answer that cannot be built closes that connection instead.</summary>
    private void AnswerListenerRequest(ListenerRequest request)
    {
        if (request.Connection.IsClosed) return;
        try
        {
            request.Connection.CompleteAnswer(request.Place, request.Answer());
        }
        catch (Exception e) when (e is ProtocolEncodeException or InvalidOperationException or ArgumentException)
        {
            _logLine($"raft {_nodeId}: closing {request.Connection.Name}: cannot answer it: {e.Message}");
            request.Connection.Close();
        }
    }
    private sealed record SnapshotRequest(long EndOffset, Action<RaftSnapshotWriter> Write, TaskCompletionSource<OffsetAndEpoch> Result);

    /// <summary>
    /// Snapshots the state machine at committed offset <paramref name="endOffset"/>
    /// (<see cref="RaftNode.CreateSnapshot"/>): on the node thread, <paramref name="write"/> appends
    /// the state as of that offset (so it must work from a stable copy), then the snapshot is frozen
    /// and the log start moves to it. Completes with the snapshot id, or with the node's refusal
    /// (<see cref="ArgumentOutOfRangeException"/>) or <paramref name="write"/>'s exception, in which
    /// case nothing is kept.
    /// </summary>
    public async Task<OffsetAndEpoch> CreateSnapshotAsync(long endOffset, Action<RaftSnapshotWriter> write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        var request = new SnapshotRequest(endOffset, write, new TaskCompletionSource<OffsetAndEpoch>(TaskCreationOptions.RunContinuationsAsynchronously));
        await PostAsync(request, cancellationToken).ConfigureAwait(false);
        return await request.Result.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Graceful resignation (<see cref="RaftNode.Resign"/>): a leader steps down and sends
    /// EndQuorumEpoch to the other voters. Completes once the node has done it (the requests are then
    /// queued on their connections); no effect on a node that is not the leader.</summary>
    public async Task ResignAsync(CancellationToken cancellationToken = default)
    {
        var request = new ResignRequest(new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        await PostAsync(request, cancellationToken).ConfigureAwait(false);
        await request.Done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    // ---- the node: its thread, and inline rounds ----

    /// <summary>
    /// The node thread: fires the node's timers, and handles what was queued in the inbox (items that
    /// found the node busy) — everything else runs inline (<see cref="TryRunInline"/>). Each round
    /// holds <see cref="_nodeLock"/>; the wait between rounds does not.
    /// </summary>
    private void NodeLoop()
    {
        var node = _node!;
        var reader = _inbox.Reader;
        try
        {
            while (!_stop.IsCancellationRequested && _fault is null)
            {
                long waitMs;
                lock (_nodeLock)
                {
                    if (_stop.IsCancellationRequested || _fault is not null) break;
                    RunGuarded(node, null);
                    waitMs = Math.Clamp(node.NextDeadline - Now(), 0, MaxWaitMs);
                    Volatile.Write(ref _sleepUntil, Now() + waitMs);
                }
                if (waitMs > 0 && !_flushCompleted && !reader.TryPeek(out _)) _wake.Wait((int)waitMs);
                _wake.Reset(); // before the next round drains: an item posted (or a flush completed) after this sets it again
            }
        }
        finally
        {
            lock (_nodeLock)
            {
                foreach (var p in _pending) p.Result.TrySetCanceled(); // never answered: stopping
                _pending.Clear();
                while (reader.TryRead(out var item))
                    if (item is Proposal p) p.Result.TrySetCanceled();
                    else if (item is ResignRequest r) r.Done.TrySetCanceled();
                    else if (item is SnapshotRequest s) s.Result.TrySetCanceled();
            }
        }
    }

    /// <summary>
    /// Runs a round of the node on the calling thread (a connection thread with a frame it just read,
    /// a proposer, the flusher) when nobody else is running one: this saves the wake-up of the node
    /// thread, tens of microseconds on a small machine and one to four of them per commit. False when
    /// the node is busy (then the caller queues <paramref name="item"/> for the node thread), stopped,
    /// or already running on this thread (a committed callback that proposes: no re-entry).
    /// </summary>
    private bool TryRunInline(object? item)
    {
        var node = _node;
        if (node is null || _nodeLock.IsHeldByCurrentThread || !_nodeLock.TryEnter()) return false;
        try
        {
            if (_stop.IsCancellationRequested || _fault is not null) return false;
            RunGuarded(node, item);
            // The node thread sleeps until the deadline it saw; wake it when this round brought one earlier.
            if (node.NextDeadline < Volatile.Read(ref _sleepUntil) || _fault is not null) _wake.Set();
            return true;
        }
        finally
        {
            _nodeLock.Exit();
        }
    }

    /// <summary>Under <see cref="_nodeLock"/>: one round (<see cref="RunRound"/>). An exception (a Raft
    /// invariant violation, a failed flush) stops the node for good: <see cref="Fault"/>.</summary>
    private void RunGuarded(RaftNode node, object? item)
    {
        try
        {
            RunRound(node, item);
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
            // Stopping: whatever failed, nothing more is done with the node.
        }
        catch (Exception e)
        {
            _fault = e;
            _logLine($"raft {_nodeId}: node loop stopped: {e}");
            if (item is Proposal p) p.Result.TrySetException(e);
            _inbox.Writer.TryComplete(); // later posts fail instead of waiting for a node that is gone
            _wake.Set();
        }
    }

    /// <summary>
    /// Under <see cref="_nodeLock"/>: due timers, then what is queued in the inbox (at most a channel's
    /// worth; queued first, so handled before <paramref name="item"/>, which keeps each connection's
    /// order), then <paramref name="item"/>. Requests and responses in order, each answer sent at once;
    /// proposals collected, then appended together as one batch and sent to parked fetches, and
    /// flushed on the flusher thread (woken as the answers go out), so that the followers' fsyncs
    /// overlap ours and fetches are answered while ours runs.
    /// </summary>
    private void RunRound(RaftNode node, object? item)
    {
        long now = Now();
        if (node.NextDeadline <= now) node.Poll(now);
        Publish(node);
        ProposeAndFlush(node);
        var reader = _inbox.Reader;
        for (int taken = 0; taken < ChannelCapacity && !_stop.IsCancellationRequested && reader.TryRead(out var queued); taken++)
            Take(node, queued);
        if (item is not null) Take(node, item);
        ProposeAndFlush(node);
    }

    private void Take(RaftNode node, object item)
    {
        if (item is Proposal proposal)
        {
            _pending.Add(proposal);
            return;
        }
        Process(node, item, Now());
        Publish(node);
    }

    private void Process(RaftNode node, object item, long now)
    {
        switch (item)
        {
            case InboundRequest request:
                Learn(request.Message);
                _awaitingResponse[(request.Message.Source, request.Message.CorrelationId)] = (request.Connection, request.Version, request.Answer);
                node.Handle(request.Message, now);
                break;
            case RaftMessage response:
                Learn(response);
                node.Handle(response, now);
                break;
            case ListenerRequest listenerRequest:
                AnswerListenerRequest(listenerRequest);
                break;
            case SnapshotRequest snapshot:
                try
                {
                    using var writer = node.CreateSnapshot(snapshot.EndOffset, now);
                    snapshot.Write(writer);
                    snapshot.Result.TrySetResult(writer.Freeze());
                }
                catch (Exception e) { snapshot.Result.TrySetException(e); }
                break;
            case ResignRequest resign:
                node.Resign(now);
                resign.Done.TrySetResult();
                break;
        }
    }

    /// <summary>
    /// Appends the collected proposals as one batch (one <see cref="RaftNode.Propose"/>, one append;
    /// the flush follows once for all) — or, past <see cref="MaxCoalescedBytes"/>, as a few batches,
    /// each of whole proposals — and completes each proposal with its own last offset: records keep
    /// the order of the proposals, so a proposal ends at its batch's first offset + its records and
    /// those before it in the batch − 1.
    /// </summary>
    private void ProposePending(RaftNode node, long now)
    {
        // Epoch-checked proposals of another epoch (or reaching a node no longer leader) are refused here,
        // in the round that would append them: the check and the append are one step on the node.
        _pending.RemoveAll(p =>
        {
            if (p.ExpectedEpoch is not { } epoch || node.Role == RaftRole.Leader && node.Epoch == epoch) return false;
            p.Result.TrySetResult(null);
            return true;
        });
        int start = 0;
        while (start < _pending.Count)
        {
            int end = start, records = 0;
            long bytes = 0;
            do
            {
                records += _pending[end].Records.Count;
                bytes += _pending[end].EstimatedBytes;
                end++;
            }
            while (end < _pending.Count && bytes + _pending[end].EstimatedBytes <= MaxCoalescedBytes);
            ProposeBatch(node, start, end, records, now);
            start = end;
        }
        _pending.Clear();
    }

    private void ProposeBatch(RaftNode node, int start, int end, int recordCount, long now)
    {
        try
        {
            IReadOnlyList<byte[]> records = end - start == 1 ? _pending[start].Records : Concatenate(start, end, recordCount);
            long? last = node.Propose(records, now);
            long next = last is { } l ? l - recordCount + 1 : 0;
            for (int i = start; i < end; i++)
            {
                next += _pending[i].Records.Count;
                _pending[i].Result.TrySetResult(last is null ? null : next - 1);
            }
        }
        catch (Exception e)
        {
            for (int i = start; i < end; i++) _pending[i].Result.TrySetException(e);
        }
    }

    private byte[][] Concatenate(int start, int end, int count)
    {
        var all = new byte[count][];
        int n = 0;
        for (int i = start; i < end; i++)
            foreach (var record in _pending[i].Records) all[n++] = record;
        return all;
    }

    /// <summary>
    /// Once the flush in progress (if any) has completed: the node records it (<see cref="RaftNode.Flush"/>
    /// finds nothing left to flush and counts the leader's new flushed end offset, which may commit);
    /// then the collected proposals are appended as one batch, and if the log has an unflushed tail
    /// the flusher thread is asked to flush it while the answers to parked fetches are sent. Proposals
    /// that arrive while a flush runs wait for it and then go out together (group commit).
    /// </summary>
    private void ProposeAndFlush(RaftNode node)
    {
        if (_flushCompleted)
        {
            _flushCompleted = false;
            _flushing = false;
            if (Interlocked.Exchange(ref _flushError, null) is { } error)
                throw new IOException($"raft {_nodeId}: flushing the log failed", error);
            node.Flush(Now());
            Publish(node);
        }
        if (_flushing) return;
        ProposePending(node, Now());
        if (node.HasUnflushedTail)
        {
            // Woken before the answers go out: its wake-up overlaps the sends, and its fsync starts
            // about when they leave (the fsync does not hold up sending: the answers already hold their records).
            _flushing = true;
            _flushRequested.Set();
        }
        Publish(node);
    }

    /// <summary>
    /// The flusher thread: flushes the log when the node asks (at most one request outstanding), then
    /// records it in a round of the node run here when the node is free (else the node thread is
    /// woken for it). <see cref="IRaftLog.Flush"/> runs outside <see cref="_nodeLock"/>, concurrently
    /// with the node's other calls on the log; <see cref="PartitionLogRaftLog"/> allows that (writers
    /// and flushes are serialised by the partition's write lock, reads are lock-free).
    /// </summary>
    private void FlushLoop()
    {
        while (true)
        {
            _flushRequested.Wait();
            _flushRequested.Reset();
            if (_stop.IsCancellationRequested) return;
            try { _log.Flush(); }
            catch (Exception e) { _flushError = e; }
            _flushCompleted = true;
            if (!TryRunInline(null)) _wake.Set();
        }
    }

    /// <summary>Sends what the node wants sent, hands committed items (batches, snapshot loads) to the
    /// callback, refreshes the published state. A leader calls back first — that is where a commit
    /// ends — and then tells the followers the new high watermark; a follower sends first (its next
    /// fetch, on which the leader's next commit waits) and then applies what it learnt is committed.</summary>
    private void Publish(RaftNode node)
    {
        bool leader = node.Role == RaftRole.Leader;
        if (leader) DeliverCommitted(node);
        foreach (var message in node.DrainOutbound())
        {
            try
            {
                if (message.IsRequest) SendRequest(message);
                else SendResponse(message);
            }
            catch (Exception e) when (e is ProtocolEncodeException or InvalidOperationException or SocketException)
            {
                _logLine($"raft {_nodeId}: could not send {message}: {e.Message}");
            }
        }
        if (!leader) DeliverCommitted(node);
        _role = (int)node.Role;
        _epoch = node.Epoch;
        _leaderId = node.LeaderId ?? -1;
        Interlocked.Exchange(ref _highWatermark, node.HighWatermark);
        Volatile.Write(ref _publishedVoters, node.Voters);
    }

    private void DeliverCommitted(RaftNode node)
    {
        foreach (var item in node.DrainCommitted())
        {
            try { _onCommitted(item); }
            catch (Exception e) { _logLine($"raft {_nodeId}: commit callback failed: {e.Message}"); }
        }
    }

    /// <summary>The node's clock: Unix milliseconds at construction plus the monotonic time since (never steps back).</summary>
    private long Now() => _wallAtStart + (Environment.TickCount64 - _tickAtStart);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        _inbox.Writer.TryComplete();
        _wake.Set();
        try { _listener?.Stop(); } catch (SocketException) { }
        _thread?.Join();
        _flushRequested.Set();
        _flusher?.Join();
        lock (_nodeLock) // a round running inline ends first; later ones see _stop. Nothing touches the log now: the caller may close it
            foreach (var connection in _outbound.Values) connection.Close();
        lock (_inbound) foreach (var connection in _inbound) connection.Close();
    }
}
