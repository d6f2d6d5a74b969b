using Fjord.Protocol.Messages;

namespace Fjord.Broker.Replication;

/// <summary>
/// How a follower's <see cref="ReplicaFetcher"/> reaches the leader of its partitions: one Fetch
/// request to broker <c>leaderId</c> at <c>version</c>, answered by that broker's
/// <see cref="ReplicaManager.FetchAsync"/>. The composition root implements it over the
/// inter-broker listener; tests call the leader's ReplicaManager in process.
/// </summary>
/// <remarks>Throwing (connection refused, timeout, unknown broker) makes the fetcher back off for
/// <c>replica.fetch.backoff.ms</c> and try again; cancellation ends the fetcher. Thread-safe: one
/// call per leader at a time from each broker, calls for different leaders concurrently.</remarks>
public interface IReplicaFetchClient
{
    Task<FetchResponse> FetchAsync(int leaderId, FetchRequest request, short version, CancellationToken cancellationToken);
}
