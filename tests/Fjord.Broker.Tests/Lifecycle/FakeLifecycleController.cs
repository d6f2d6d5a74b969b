using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Tests.Lifecycle;

/// <summary>
/// A controller's broker-lifecycle state machine behind <see cref="IControllerChannel"/>, as the
/// real ClusterControlManager behaves: registration gives epoch = the next "log offset" (fenced);
/// a heartbeat needs the current epoch (else STALE_BROKER_EPOCH / BROKER_ID_NOT_REGISTERED), is
/// caught up when its metadata offset reached the epoch, unfences when caught up and not wanting
/// fencing; WantShutDown on an unfenced broker first moves its leadership (one heartbeat per led
/// partition group, <see cref="LedPartitionRounds"/>), then fences it and says ShouldShutDown; a
/// fenced broker asking to shut down is told so at once.
/// </summary>
internal sealed class FakeLifecycleController : IControllerChannel
{
    private readonly object _lock = new();

    public sealed class BrokerEntry
    {
        public long Epoch;
        public Uuid Incarnation;
        public bool Fenced = true;
        public bool InControlledShutdown;
        public BrokerRegistrationRequest Registration = new();
    }

    public string ClusterId { get; set; } = "cluster-A";

    /// <summary>The controller's log end: each registration takes one offset.</summary>
    public long LogOffset { get; set; } = 100;

    /// <summary>Heartbeats with WantShutDown needed before an unfenced broker leads nothing.</summary>
    public int LedPartitionRounds { get; set; } = 1;

    /// <summary>Requests that fail with <see cref="TimeoutException"/> before any is answered.</summary>
    public int FailNext { get; set; }

    public Dictionary<int, BrokerEntry> Brokers { get; } = [];
    public List<IKafkaMessage> Requests { get; } = [];
    public List<short> Versions { get; } = [];

    public BrokerEntry Broker(int id) { lock (_lock) return Brokers[id]; }

    public T[] Sent<T>() { lock (_lock) return [.. Requests.OfType<T>()]; }

    /// <summary>Removes the registration (as UnregisterBroker would).</summary>
    public void Unregister(int id) { lock (_lock) Brokers.Remove(id); }

    /// <summary>Fences the broker as a session timeout would.</summary>
    public void Fence(int id) { lock (_lock) Brokers[id].Fenced = true; }

    public Task<TResponse> SendAsync<TResponse>(IKafkaMessage request, short apiVersion, TimeSpan timeout, CancellationToken cancellationToken = default)
        where TResponse : IKafkaMessage
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            Requests.Add(request);
            Versions.Add(apiVersion);
            if (FailNext > 0)
            {
                FailNext--;
                return Task.FromException<TResponse>(new TimeoutException("controller unreachable"));
            }
            IKafkaMessage response = request switch
            {
                BrokerRegistrationRequest r => Register(r),
                BrokerHeartbeatRequest h => Heartbeat(h),
                _ => throw new InvalidOperationException($"unexpected {request.GetType().Name}"),
            };
            return Task.FromResult((TResponse)response);
        }
    }

    private BrokerRegistrationResponse Register(BrokerRegistrationRequest r)
    {
        if (r.ClusterId != ClusterId) return new BrokerRegistrationResponse { ErrorCode = (short)ErrorCode.InconsistentClusterId };
        long epoch = LogOffset++;
        Brokers[r.BrokerId] = new BrokerEntry { Epoch = epoch, Incarnation = r.IncarnationId, Registration = r };
        return new BrokerRegistrationResponse { BrokerEpoch = epoch };
    }

    private BrokerHeartbeatResponse Heartbeat(BrokerHeartbeatRequest h)
    {
        if (!Brokers.TryGetValue(h.BrokerId, out var b)) return new BrokerHeartbeatResponse { ErrorCode = (short)ErrorCode.BrokerIdNotRegistered };
        if (b.Epoch != h.BrokerEpoch) return new BrokerHeartbeatResponse { ErrorCode = (short)ErrorCode.StaleBrokerEpoch };
        bool caughtUp = h.CurrentMetadataOffset >= b.Epoch;
        bool shutDown = false;
        if (b.Fenced)
        {
            if (h.WantShutDown) shutDown = true;
            else if (!h.WantFence && caughtUp) b.Fenced = false;
        }
        else if (h.WantFence) b.Fenced = true;
        else if (h.WantShutDown || b.InControlledShutdown)
        {
            b.InControlledShutdown = true;
            if (LedPartitionRounds > 0) LedPartitionRounds--;
            else
            {
                b.Fenced = true;
                shutDown = true;
            }
        }
        return new BrokerHeartbeatResponse { IsCaughtUp = caughtUp, IsFenced = b.Fenced, ShouldShutDown = shutDown };
    }
}
