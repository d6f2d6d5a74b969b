using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Lifecycle;

/// <summary>Kafka's BrokerState values, as far as a KRaft broker goes through them.</summary>
public enum BrokerState : byte
{
    NotRunning = 0,

    /// <summary>Registering with the controller (also while re-registering).</summary>
    Starting = 1,

    /// <summary>Registered, fenced, catching up with the metadata log.</summary>
    Recovery = 2,

    /// <summary>Unfenced: the controller may make it leader and clients use it.</summary>
    Running = 3,

    /// <summary>Asking the controller for a controlled shutdown (leadership moves away).</summary>
    PendingControlledShutdown = 6,

    /// <summary>The controller agreed (or the wait timed out); nothing more is sent.</summary>
    ShuttingDown = 7,
}

/// <summary>What <see cref="BrokerLifecycleManager"/> registers with and how often it heartbeats.</summary>
public sealed record BrokerLifecycleOptions
{
    /// <summary><c>node.id</c>.</summary>
    public required int NodeId { get; init; }

    /// <summary>The cluster id from <c>meta.properties</c>.</summary>
    public required string ClusterId { get; init; }

    /// <summary>The advertised listeners (never the controller listener).</summary>
    public IReadOnlyList<Endpoint> Listeners { get; init; } = [];

    public IReadOnlyList<SupportedFeature> SupportedFeatures { get; init; } = BrokerFeatures.Default;

    /// <summary><c>broker.rack</c>, or null.</summary>
    public string? Rack { get; init; }

    /// <summary>The directory ids of the online log directories.</summary>
    public IReadOnlyList<Uuid> LogDirs { get; init; } = [];

    /// <summary>The broker epoch before the last clean shutdown (KIP-966), or -1 when unknown.</summary>
    public long PreviousBrokerEpoch { get; init; } = -1;

    /// <summary>A new id per process start (default: a random one).</summary>
    public Uuid IncarnationId { get; init; } = Uuid.NewRandom();

    /// <summary><c>broker.heartbeat.interval.ms</c> (2000).</summary>
    public int HeartbeatIntervalMs { get; init; } = 2000;

    /// <summary>The wait before retrying a failed registration or heartbeat (capped at the heartbeat interval).</summary>
    public int RetryBackoffMs { get; init; } = 100;

    /// <summary>How long one registration or heartbeat may take in the channel.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMilliseconds(4500);

    public short RegistrationVersion { get; init; } = BrokerRegistrationRequest.HighestSupportedVersion;
    public short HeartbeatVersion { get; init; } = BrokerHeartbeatRequest.HighestSupportedVersion;
}

/// <summary>The controller refused the registration for good (e.g. INCONSISTENT_CLUSTER_ID).</summary>
public sealed class BrokerRegistrationException(ErrorCode error, string message) : Exception(message)
{
    public ErrorCode Error { get; } = error;
}

/// <summary>
/// The broker's side of KIP-631's broker lifecycle: registration, heartbeats, fencing and controlled
/// shutdown, against the active controller through <see cref="IControllerChannel"/>.
/// </summary>
/// <remarks>
/// <para><b>States.</b> STARTING (sending BrokerRegistration; retried after failures) → RECOVERY
/// (registered with an epoch, fenced; heartbeats carry <c>WantFence</c> until the controller says
/// <c>IsCaughtUp</c> — our metadata offset reached the registration — and the optional readiness
/// gate passes) → RUNNING (the controller answered <c>IsFenced=false</c>) →
/// PENDING_CONTROLLED_SHUTDOWN (heartbeats carry <c>WantShutDown</c>) → SHUTTING_DOWN (the
/// controller answered <c>ShouldShutDown</c>, or the shutdown wait timed out) → the loop ends.</para>
/// <para><b>Re-registration.</b> A heartbeat answered STALE_BROKER_EPOCH or BROKER_ID_NOT_REGISTERED
/// (the registration was replaced or removed) sends the broker back to STARTING with the same
/// incarnation id; it registers again and gets a new epoch. During a controlled shutdown it
/// instead goes straight to SHUTTING_DOWN (there is nothing left to hand over). If the controller
/// fences a RUNNING broker (e.g. a missed session), the state stays RUNNING (as in Kafka) and the
/// next heartbeats, which do not want fencing, get it unfenced again; <see cref="IsFenced"/> shows
/// what the controller last said.</para>
/// <para><b>Timing.</b> One loop task (started by <see cref="Start"/>) does all communication,
/// one request at a time: the next one <see cref="BrokerLifecycleOptions.HeartbeatIntervalMs"/> after a
/// success, <see cref="BrokerLifecycleOptions.RetryBackoffMs"/> after a failure, at once after a
/// registration or when the broker just caught up, 10 ms after the first answer to a shutdown
/// request. Time is read from the given clock; waits are real time. State is read from any thread.</para>
/// <para><b>Fatal.</b> INCONSISTENT_CLUSTER_ID stops the loop and faults <see cref="WaitForUnfencedAsync"/>
/// with <see cref="BrokerRegistrationException"/>; every other refusal is retried.</para>
/// </remarks>
public sealed class BrokerLifecycleManager : IAsyncDisposable
{
    private const long Stop = long.MaxValue;

    private readonly BrokerLifecycleOptions _options;
    private readonly IControllerChannel _controller;
    private readonly Func<long> _metadataOffset;
    private readonly Func<long> _now;
    private readonly Func<bool> _readyToUnfence;
    private readonly object _lock = new();
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource<bool> _shutDown = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _running = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private BrokerState _state = BrokerState.NotRunning;
    private long _epoch = -1;
    private bool _caughtUp;
    private bool _fenced = true;
    private bool _shutdownRequested;
    private bool _gotShutdownAnswer;
    private int _registrations;
    private Task? _loop;

    /// <param name="options">Registration content and timing.</param>
    /// <param name="controller">The line to the active controller.</param>
    /// <param name="currentMetadataOffset">The offset of the last metadata record this broker has applied (the loader's).</param>
    /// <param name="nowMs">Milliseconds on a monotonic clock (default <see cref="Environment.TickCount64"/>).</param>
    /// <param name="readyToUnfence">Whether the broker is otherwise ready to be unfenced (e.g. logs recovered); default always.</param>
    public BrokerLifecycleManager(BrokerLifecycleOptions options, IControllerChannel controller, Func<long> currentMetadataOffset,
        Func<long>? nowMs = null, Func<bool>? readyToUnfence = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(controller);
        ArgumentNullException.ThrowIfNull(currentMetadataOffset);
        if (options.HeartbeatIntervalMs <= 0) throw new ArgumentOutOfRangeException(nameof(options), "HeartbeatIntervalMs must be positive");
        _options = options;
        _controller = controller;
        _metadataOffset = currentMetadataOffset;
        _now = nowMs ?? (() => Environment.TickCount64);
        _readyToUnfence = readyToUnfence ?? (() => true);
    }

    public BrokerState State { get { lock (_lock) return _state; } }

    /// <summary>The epoch of the current registration, -1 before the first.</summary>
    public long BrokerEpoch { get { lock (_lock) return _epoch; } }

    public Uuid IncarnationId => _options.IncarnationId;

    /// <summary>Whether the controller said, in its last heartbeat answer, that the broker is fenced.</summary>
    public bool IsFenced { get { lock (_lock) return _fenced; } }

    /// <summary>Whether the controller said the broker caught up with its registration (this registration).</summary>
    public bool IsCaughtUp { get { lock (_lock) return _caughtUp; } }

    /// <summary>Successful registrations so far (more than one after re-registrations).</summary>
    public int Registrations { get { lock (_lock) return _registrations; } }

    /// <summary>The fatal refusal, if any.</summary>
    public BrokerRegistrationException? FatalError { get; private set; }

    /// <summary>Fires on every state change (on the loop's thread or the caller of <see cref="ControlledShutdownAsync"/>).</summary>
    public event Action<BrokerState>? StateChanged;

    /// <summary>Starts the loop: STARTING, registration at once.</summary>
    public void Start()
    {
        lock (_lock)
        {
            if (_loop is not null || _state != BrokerState.NotRunning) throw new InvalidOperationException("the lifecycle manager was already started");
            SetStateLocked(BrokerState.Starting);
            _loop = Task.Run(RunAsync);
        }
        RaiseStateChanged(BrokerState.Starting);
    }

    /// <summary>Completes when the broker is RUNNING (at once if it is); faults if registration failed
    /// for good or the broker shut down first.</summary>
    public Task WaitForUnfencedAsync(CancellationToken cancellationToken = default)
    {
        Task running;
        lock (_lock) running = _running.Task;
        return running.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Controlled shutdown: heartbeats ask for it until the controller answers ShouldShutDown (true),
    /// or <paramref name="timeout"/> passes (false); the state is SHUTTING_DOWN either way and the
    /// loop stops. A broker never registered shuts down at once (true).
    /// </summary>
    public async Task<bool> ControlledShutdownAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        bool immediate;
        BrokerState? changed = null;
        lock (_lock)
        {
            if (_state == BrokerState.ShuttingDown) immediate = true;
            else
            {
                _shutdownRequested = true;
                immediate = _loop is null || _epoch < 0 && _state is BrokerState.Starting or BrokerState.NotRunning;
                if (immediate) { SetStateLocked(BrokerState.ShuttingDown); changed = BrokerState.ShuttingDown; }
                else if (_state is BrokerState.Recovery or BrokerState.Running)
                {
                    SetStateLocked(BrokerState.PendingControlledShutdown);
                    changed = BrokerState.PendingControlledShutdown;
                }
            }
        }
        if (changed is { } c) RaiseStateChanged(c);
        if (immediate)
        {
            _shutDown.TrySetResult(true);
            await StopLoopAsync().ConfigureAwait(false);
            return true;
        }
        _wake.Release();
        bool agreed;
        try
        {
            agreed = await _shutDown.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            agreed = false;
            lock (_lock) SetStateLocked(BrokerState.ShuttingDown);
            RaiseStateChanged(BrokerState.ShuttingDown);
        }
        await StopLoopAsync().ConfigureAwait(false);
        return agreed;
    }

    /// <summary>Stops the loop without telling the controller (the session then expires there).</summary>
    public async ValueTask DisposeAsync()
    {
        await StopLoopAsync().ConfigureAwait(false);
        _stop.Dispose();
        _wake.Dispose();
    }

    private async Task StopLoopAsync()
    {
        Task? loop;
        lock (_lock) loop = _loop;
        try { _stop.Cancel(); } catch (ObjectDisposedException) { }
        if (loop is not null) await loop.ConfigureAwait(false);
        lock (_lock)
        {
            _running.TrySetException(new InvalidOperationException("the broker stopped before it was unfenced"));
            _ = _running.Task.Exception; // observed: nobody may be waiting
        }
    }

    // ---- the loop ----------------------------------------------------------------------------

    private async Task RunAsync()
    {
        var token = _stop.Token;
        long nextAt = _now();
        while (!token.IsCancellationRequested)
        {
            long delay = nextAt - _now();
            if (delay > 0)
            {
                try
                {
                    // Woken early by a shutdown request; otherwise wait for the deadline.
                    await _wake.WaitAsync(TimeSpan.FromMilliseconds(Math.Min(delay, int.MaxValue)), token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            try
            {
                nextAt = await StepAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            if (nextAt == Stop) break;
        }
    }

    /// <summary>One communication; returns when the next one is due (<see cref="Stop"/> to end).</summary>
    private async Task<long> StepAsync(CancellationToken token)
    {
        BrokerState state;
        bool goShutDown = false;
        lock (_lock)
        {
            state = _state;
            if (_shutdownRequested && state == BrokerState.Starting) goShutDown = true;
            else if (_shutdownRequested && state is BrokerState.Recovery or BrokerState.Running)
            {
                SetStateLocked(state = BrokerState.PendingControlledShutdown);
                goShutDown = false;
            }
        }
        if (goShutDown) return FinishShutdown();
        return state switch
        {
            BrokerState.Starting => await RegisterAsync(token).ConfigureAwait(false),
            BrokerState.Recovery or BrokerState.Running or BrokerState.PendingControlledShutdown => await HeartbeatAsync(state, token).ConfigureAwait(false),
            _ => Stop,
        };
    }

    private long Backoff() => _now() + Math.Min(_options.RetryBackoffMs, _options.HeartbeatIntervalMs);

    private async Task<long> RegisterAsync(CancellationToken token)
    {
        short version = _options.RegistrationVersion;
        var request = new BrokerRegistrationRequest
        {
            BrokerId = _options.NodeId,
            ClusterId = _options.ClusterId,
            IncarnationId = _options.IncarnationId,
            Listeners = [.. _options.Listeners.Select(l => new BrokerRegistrationRequest.Listener { Name = l.Name, Host = l.Host, Port = l.Port, SecurityProtocol = l.SecurityProtocol })],
            // Before v4, features whose lowest level is 0 are left out (the controller then does not check them).
            Features = [.. _options.SupportedFeatures.Where(f => version >= 4 || f.MinSupportedVersion > 0)
                .Select(f => new BrokerRegistrationRequest.Feature { Name = f.Name, MinSupportedVersion = f.MinSupportedVersion, MaxSupportedVersion = f.MaxSupportedVersion })],
            Rack = _options.Rack,
            IsMigratingZkBroker = false,
        };
        if (version >= 2) request.LogDirs = [.. _options.LogDirs];
        if (version >= 3) request.PreviousBrokerEpoch = _options.PreviousBrokerEpoch;

        BrokerRegistrationResponse response;
        try
        {
            response = await _controller.SendAsync<BrokerRegistrationResponse>(request, version, _options.RequestTimeout, token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
        {
            return Backoff();
        }
        var error = (ErrorCode)response.ErrorCode;
        if (error == ErrorCode.InconsistentClusterId)
        {
            var fatal = new BrokerRegistrationException(error,
                $"broker {_options.NodeId} cannot register: the controller's cluster id differs from this broker's ({_options.ClusterId}); check meta.properties");
            FatalError = fatal;
            lock (_lock) _running.TrySetException(fatal);
            return Stop;
        }
        if (error != ErrorCode.None) return Backoff();
        bool shutdownRequested;
        lock (_lock)
        {
            _epoch = response.BrokerEpoch;
            _caughtUp = false;
            _fenced = true;
            _registrations++;
            shutdownRequested = _shutdownRequested;
            SetStateLocked(shutdownRequested ? BrokerState.PendingControlledShutdown : BrokerState.Recovery);
        }
        RaiseStateChanged(shutdownRequested ? BrokerState.PendingControlledShutdown : BrokerState.Recovery);
        return _now();
    }

    private async Task<long> HeartbeatAsync(BrokerState state, CancellationToken token)
    {
        long epoch;
        bool caughtUpBefore;
        lock (_lock) { epoch = _epoch; caughtUpBefore = _caughtUp; }
        var request = new BrokerHeartbeatRequest
        {
            BrokerId = _options.NodeId,
            BrokerEpoch = epoch,
            CurrentMetadataOffset = _metadataOffset(),
            WantFence = !(caughtUpBefore && _readyToUnfence()),
            WantShutDown = state == BrokerState.PendingControlledShutdown,
        };
        BrokerHeartbeatResponse response;
        try
        {
            response = await _controller.SendAsync<BrokerHeartbeatResponse>(request, _options.HeartbeatVersion, _options.RequestTimeout, token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
        {
            return Backoff();
        }
        var error = (ErrorCode)response.ErrorCode;
        if (error is ErrorCode.StaleBrokerEpoch or ErrorCode.BrokerIdNotRegistered)
        {
            if (state == BrokerState.PendingControlledShutdown) return FinishShutdown();
            lock (_lock)
            {
                if (_state == BrokerState.PendingControlledShutdown) return FinishShutdownLocked();
                _caughtUp = false;
                _fenced = true;
                LeaveRunningLocked();
                SetStateLocked(BrokerState.Starting);
            }
            RaiseStateChanged(BrokerState.Starting);
            return _now();
        }
        if (error != ErrorCode.None) return Backoff();

        BrokerState? changed = null;
        long next = _now() + _options.HeartbeatIntervalMs;
        lock (_lock)
        {
            _fenced = response.IsFenced;
            if (response.IsCaughtUp) _caughtUp = true;
            if (_state == BrokerState.PendingControlledShutdown)
            {
                if (response.ShouldShutDown) return FinishShutdownLocked();
                if (!_gotShutdownAnswer)
                {
                    _gotShutdownAnswer = true;
                    next = _now() + Math.Min(10, _options.HeartbeatIntervalMs);
                }
            }
            else if (_state == BrokerState.Recovery && !response.IsFenced)
            {
                SetStateLocked(BrokerState.Running);
                changed = BrokerState.Running;
                _running.TrySetResult();
            }
            else if (_state == BrokerState.Recovery && !caughtUpBefore && _caughtUp)
            {
                next = _now(); // ask to be unfenced at once
            }
        }
        if (changed is { } c) RaiseStateChanged(c);
        return next;
    }

    private long FinishShutdown()
    {
        lock (_lock) return FinishShutdownLocked();
    }

    private long FinishShutdownLocked()
    {
        SetStateLocked(BrokerState.ShuttingDown);
        _shutDown.TrySetResult(true);
        ThreadPool.QueueUserWorkItem(_ => RaiseStateChanged(BrokerState.ShuttingDown));
        return Stop;
    }

    private void LeaveRunningLocked()
    {
        if (_running.Task.IsCompletedSuccessfully) _running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private void SetStateLocked(BrokerState state)
    {
        if (_state == BrokerState.Running && state != BrokerState.Running) LeaveRunningLocked();
        _state = state;
    }

    private void RaiseStateChanged(BrokerState state)
    {
        try
        {
            StateChanged?.Invoke(state);
        }
        catch (Exception)
        {
            // An observer's failure must not stop the lifecycle.
        }
    }
}
