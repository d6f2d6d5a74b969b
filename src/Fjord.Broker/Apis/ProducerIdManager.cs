using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Apis;

/// <summary>A block of producer ids handed out by the controller: [Start, Start + Length).</summary>
public readonly record struct ProducerIdBlock(long Start, int Length)
{
    public long End => Start + Length;
}

/// <summary>
/// Producer ids for idempotent producers (InitProducerId without a transactional id), taken from
/// blocks the active controller allocates (AllocateProducerIds v0 with this broker's id and current
/// epoch, through <see cref="IControllerChannel"/>).
/// </summary>
/// <remarks>
/// <para><b>Invariants.</b> Ids are handed out in increasing order, each once per process; a block is
/// used only if it starts at or after the end of every block seen before (the controller's blocks
/// are unique and increasing across failovers; a block that goes back is refused). At most one
/// AllocateProducerIds is in flight.</para>
/// <para><b>Prefetch.</b> When <see cref="PrefetchThreshold"/> (90 %) of the current block is used,
/// the next block is requested in the background, so producers normally never wait. When the
/// current block is exhausted before the next arrived, callers wait for the request in flight
/// (bounded by the channel's timeout); if it fails they get COORDINATOR_LOAD_IN_PROGRESS
/// (retriable, as Kafka answers in that case) and the next call tries again.</para>
/// <para><b>Transactional ids.</b> Not served here: InitProducerId with a transactional id answers
/// NOT_COORDINATOR. The broker's API registry sends such requests to
/// <see cref="Fjord.Broker.Transactions.TransactionCoordinator"/>, which takes its producer ids from
/// <see cref="NextProducerIdAsync"/>.</para>
/// </remarks>
public sealed class ProducerIdManager
{
    /// <summary>The share of a block used before the next one is fetched.</summary>
    public const double PrefetchThreshold = 0.9;

    private readonly int _brokerId;
    private readonly Func<long> _brokerEpoch;
    private readonly IControllerChannel _controller;
    private readonly TimeSpan _requestTimeout;
    private readonly object _lock = new();
    private ProducerIdBlock? _current;
    private long _next;
    private ProducerIdBlock? _prefetched;
    private long _highestEnd;
    private Task<bool>? _inFlight;
    private int _blockRequests;

    /// <param name="brokerId">This broker's id.</param>
    /// <param name="brokerEpoch">The broker's current epoch (from its registration), read per request.</param>
    /// <param name="controller">The line to the active controller.</param>
    /// <param name="requestTimeout">How long one AllocateProducerIds may take (default 30 s).</param>
    public ProducerIdManager(int brokerId, Func<long> brokerEpoch, IControllerChannel controller, TimeSpan? requestTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(brokerEpoch);
        ArgumentNullException.ThrowIfNull(controller);
        _brokerId = brokerId;
        _brokerEpoch = brokerEpoch;
        _controller = controller;
        _requestTimeout = requestTimeout ?? TimeSpan.FromSeconds(30);
    }

    /// <summary>The block ids are being handed out from, if any.</summary>
    public ProducerIdBlock? CurrentBlock { get { lock (_lock) return _current; } }

    /// <summary>The block fetched ahead, if any.</summary>
    public ProducerIdBlock? PrefetchedBlock { get { lock (_lock) return _prefetched; } }

    /// <summary>AllocateProducerIds requests sent so far.</summary>
    public int BlockRequests => Volatile.Read(ref _blockRequests);

    /// <summary>Why the last block request failed, or null.</summary>
    public string? LastError { get; private set; }

    /// <summary>
    /// InitProducerId v0–6. Without a transactional id: a new producer id with epoch 0 (a client
    /// re-initializing with its old id and epoch gets a new id too, as in Kafka). With one:
    /// NOT_COORDINATOR (see the remarks). No id available in time: COORDINATOR_LOAD_IN_PROGRESS.
    /// </summary>
    public async Task<InitProducerIdResponse> InitProducerIdAsync(InitProducerIdRequest request, short version, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.TransactionalId is not null)
            return new InitProducerIdResponse { ErrorCode = (short)ErrorCode.NotCoordinator, ProducerId = -1, ProducerEpoch = -1 };
        long id = await NextProducerIdAsync(cancellationToken).ConfigureAwait(false);
        return id < 0
            ? new InitProducerIdResponse { ErrorCode = (short)ErrorCode.CoordinatorLoadInProgress, ProducerId = -1, ProducerEpoch = -1 }
            : new InitProducerIdResponse { ProducerId = id, ProducerEpoch = 0 };
    }

    /// <summary>The next producer id, or -1 when none could be obtained (the block request failed).</summary>
    public async Task<long> NextProducerIdAsync(CancellationToken cancellationToken = default)
    {
        // Each failed round means a whole block went to other callers meanwhile; a few rounds suffice.
        for (int attempt = 0; attempt < 10; attempt++)
        {
            Task<bool>? wait = null;
            TaskCompletionSource<bool>? start = null;
            long id = -1;
            lock (_lock)
            {
                if ((_current is null || _next >= _current.Value.End) && _prefetched is { } next)
                {
                    _current = next;
                    _next = next.Start;
                    _prefetched = null;
                }
                if (_current is { } block && _next < block.End)
                {
                    id = _next++;
                    if (_prefetched is null && _inFlight is null && _next - block.Start >= PrefetchThreshold * block.Length)
                        start = StartFetchLocked();
                }
                else
                {
                    if (_inFlight is null) start = StartFetchLocked();
                    wait = _inFlight!;
                }
            }
            if (start is not null) _ = FetchAsync(start);
            if (id >= 0) return id;
            if (!await wait!.WaitAsync(cancellationToken).ConfigureAwait(false)) return -1;
        }
        return -1;
    }

    private TaskCompletionSource<bool> StartFetchLocked()
    {
        var start = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        _inFlight = start.Task;
        return start;
    }

    /// <summary>Sends one AllocateProducerIds; called outside the lock. Never throws.</summary>
    private async Task FetchAsync(TaskCompletionSource<bool> done)
    {
        bool ok = false;
        string? error = null;
        try
        {
            Interlocked.Increment(ref _blockRequests);
            var response = await _controller.SendAsync<AllocateProducerIdsResponse>(
                new AllocateProducerIdsRequest { BrokerId = _brokerId, BrokerEpoch = _brokerEpoch() }, 0, _requestTimeout).ConfigureAwait(false);
            if (response.ErrorCode != 0) error = $"the controller answered {(ErrorCode)response.ErrorCode}";
            else if (response.ProducerIdStart < 0 || response.ProducerIdLen <= 0 || response.ProducerIdStart > long.MaxValue - response.ProducerIdLen)
                error = $"invalid block start {response.ProducerIdStart} length {response.ProducerIdLen}";
            else
            {
                lock (_lock)
                {
                    if (response.ProducerIdStart < _highestEnd)
                        error = $"block {response.ProducerIdStart}+{response.ProducerIdLen} is not after the previous one (ending at {_highestEnd})";
                    else
                    {
                        _prefetched = new ProducerIdBlock(response.ProducerIdStart, response.ProducerIdLen);
                        _highestEnd = response.ProducerIdStart + response.ProducerIdLen;
                        ok = true;
                    }
                }
            }
        }
        catch (Exception e)
        {
            error = $"{e.GetType().Name}: {e.Message}";
        }
        LastError = ok ? null : error;
        lock (_lock) _inFlight = null;
        done.TrySetResult(ok);
    }
}
