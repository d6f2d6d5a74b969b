using System.Collections.Concurrent;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Apis;

/// <summary>
/// The broker's read-only APIs, answered from the current <see cref="MetadataImage"/>: Metadata,
/// DescribeCluster, DescribeTopicPartitions, DescribeConfigs, DescribeAcls, DescribeClientQuotas,
/// DescribeUserScramCredentials, and the feature part of ApiVersions. Each method takes the decoded
/// request and its API version and returns the response message.
/// </summary>
/// <remarks>
/// <para><b>One image per answer.</b> Every call reads the image once and answers from it, so a
/// response never mixes two metadata states. Thread-safe: no mutable state apart from the set of
/// auto-creations in flight.</para>
/// <para><b>Controller id.</b> Clients get a random alive (unfenced) broker among those listed in the
/// answer as "controller", as KRaft brokers do — clients cannot reach the controllers and send
/// controller-bound admin requests to a broker, which forwards them.</para>
/// <para><b>Listeners.</b> Brokers are listed with the endpoint of the listener the request arrived
/// on (<c>listenerName</c>); a broker without that listener is left out.</para>
/// </remarks>
public sealed partial class BrokerMetadataApis
{
    private readonly BrokerApiOptions _options;
    private readonly Func<MetadataImage> _image;
    private readonly IControllerChannel? _controller;
    private readonly ConcurrentDictionary<string, Task<ErrorCode>> _creating = new(StringComparer.Ordinal);

    /// <param name="options">Node id, cluster id, auto-creation settings, static configs.</param>
    /// <param name="image">The current image (e.g. <see cref="MetadataCache.Current"/>).</param>
    /// <param name="controller">The line to the active controller, for auto-creation; null disables it.</param>
    public BrokerMetadataApis(BrokerApiOptions options, Func<MetadataImage> image, IControllerChannel? controller = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(image);
        _options = options;
        _image = image;
        _controller = controller;
    }

    public BrokerApiOptions Options => _options;

    // ---- Metadata (3) ------------------------------------------------------------------------

    /// <summary>
    /// Metadata v0–13. All topics when <c>Topics</c> is null (or empty at v0); otherwise each named
    /// topic (duplicates answered once) and, from v10, each topic given by id with a null name
    /// (UNKNOWN_TOPIC_ID if absent). A missing topic is INVALID_TOPIC_EXCEPTION when its name is
    /// illegal, created through the controller when auto-creation is allowed (the request's
    /// <c>AllowAutoTopicCreation</c>, always true before v4, and <c>auto.create.topics.enable</c>)
    /// and then answered LEADER_NOT_AVAILABLE (the client retries), else UNKNOWN_TOPIC_OR_PARTITION.
    /// Internal topics are never auto-created here (their coordinators create them).
    /// </summary>
    public async Task<MetadataResponse> MetadataAsync(MetadataRequest request, short version, string listenerName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(listenerName);
        var image = _image();
        var brokers = ListedBrokers(image, listenerName, includeFenced: false);
        var response = new MetadataResponse
        {
            ClusterId = _options.ClusterId,
            ControllerId = RandomBroker(brokers),
            Brokers = [.. brokers.Select(b => new MetadataResponse.MetadataResponseBroker { NodeId = b.Id, Host = b.Endpoint.Host, Port = b.Endpoint.Port, Rack = b.Rack })],
        };
        if (version is >= 8 and <= 10 && request.IncludeClusterAuthorizedOperations)
            response.ClusterAuthorizedOperations = AuthorizedOperations.Cluster;
        bool includeOps = version >= 8 && request.IncludeTopicAuthorizedOperations;

        if (request.Topics is null || (version == 0 && request.Topics.Count == 0))
        {
            foreach (var name in image.Topics.TopicsByName.Keys.Order(StringComparer.Ordinal))
                response.Topics.Add(TopicMetadata(image.Topics.TopicsByName[name], image, listenerName, version, includeOps));
            return response;
        }

        bool autoCreate = _controller is not null && _options.AutoCreateTopicsEnable && (version < 4 || request.AllowAutoTopicCreation);
        var seenNames = new HashSet<string>(StringComparer.Ordinal);
        var seenIds = new HashSet<Uuid>();
        var toCreate = new List<MetadataResponse.MetadataResponseTopic>();
        foreach (var wanted in request.Topics)
        {
            if (wanted.Name is null)
            {
                if (wanted.TopicId.IsZero || !seenIds.Add(wanted.TopicId)) continue;
                var byId = image.Topics.Topic(wanted.TopicId);
                response.Topics.Add(byId is not null
                    ? TopicMetadata(byId, image, listenerName, version, includeOps)
                    : new MetadataResponse.MetadataResponseTopic
                    {
                        ErrorCode = (short)ErrorCode.UnknownTopicId,
                        Name = version >= 12 ? null : "",
                        TopicId = wanted.TopicId,
                        TopicAuthorizedOperations = AuthorizedOperations.NotRequested,
                    });
                continue;
            }
            if (!seenNames.Add(wanted.Name)) continue;
            var topic = image.Topics.Topic(wanted.Name);
            if (topic is not null)
            {
                response.Topics.Add(TopicMetadata(topic, image, listenerName, version, includeOps));
                continue;
            }
            var missing = new MetadataResponse.MetadataResponseTopic
            {
                Name = wanted.Name,
                IsInternal = TopicNames.IsInternal(wanted.Name),
                TopicAuthorizedOperations = AuthorizedOperations.NotRequested,
            };
            if (!TopicNames.IsValid(wanted.Name)) missing.ErrorCode = (short)ErrorCode.InvalidTopicException;
            else if (autoCreate && !TopicNames.IsInternal(wanted.Name)) toCreate.Add(missing);
            else missing.ErrorCode = (short)ErrorCode.UnknownTopicOrPartition;
            response.Topics.Add(missing);
        }

        if (toCreate.Count > 0)
        {
            var results = await CreateTopicsAsync([.. toCreate.Select(t => t.Name!)], cancellationToken).ConfigureAwait(false);
            foreach (var t in toCreate) t.ErrorCode = (short)results[t.Name!];
        }
        return response;
    }

    /// <summary>
    /// Sends one CreateTopics (v7, <c>num.partitions</c>, <c>default.replication.factor</c>) for the
    /// names not already being created by another request, waits for every name's outcome, and maps
    /// it to the Metadata answer: created or already existing → LEADER_NOT_AVAILABLE (the partitions
    /// are not in this broker's image yet), timeout or a retriable error → LEADER_NOT_AVAILABLE, any
    /// other error (e.g. INVALID_REPLICATION_FACTOR when too few brokers are up) passed through.
    /// </summary>
    private async Task<Dictionary<string, ErrorCode>> CreateTopicsAsync(List<string> names, CancellationToken cancellationToken)
    {
        var waits = new Dictionary<string, Task<ErrorCode>>(StringComparer.Ordinal);
        var mine = new List<(string Name, TaskCompletionSource<ErrorCode> Done)>();
        foreach (var name in names)
        {
            var done = new TaskCompletionSource<ErrorCode>(TaskCreationOptions.RunContinuationsAsynchronously);
            var existing = _creating.GetOrAdd(name, done.Task);
            if (ReferenceEquals(existing, done.Task)) mine.Add((name, done));
            waits[name] = existing;
        }
        if (mine.Count > 0) await SendCreateTopicsAsync(mine).ConfigureAwait(false);
        var results = new Dictionary<string, ErrorCode>(StringComparer.Ordinal);
        foreach (var (name, wait) in waits) results[name] = await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        return results;
    }

    private async Task SendCreateTopicsAsync(List<(string Name, TaskCompletionSource<ErrorCode> Done)> mine)
    {
        var request = new CreateTopicsRequest
        {
            TimeoutMs = (int)Math.Min(int.MaxValue, _options.ControllerRequestTimeout.TotalMilliseconds),
            Topics = [.. mine.Select(m => new CreateTopicsRequest.CreatableTopic
            {
                Name = m.Name,
                NumPartitions = _options.NumPartitions,
                ReplicationFactor = _options.DefaultReplicationFactor,
            })],
        };
        CreateTopicsResponse? response = null;
        try
        {
            response = await _controller!.SendAsync<CreateTopicsResponse>(request, 7, _options.ControllerRequestTimeout).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // No answer (timeout, connection lost, …): the topic may or may not have been created;
            // the client retries. Every waiter must still get an outcome, so nothing escapes here.
        }
        foreach (var (name, done) in mine)
        {
            var result = response?.Topics.FirstOrDefault(t => t.Name == name);
            var code = result is null ? ErrorCode.LeaderNotAvailable : (ErrorCode)result.ErrorCode;
            code = code switch
            {
                ErrorCode.None or ErrorCode.TopicAlreadyExists => ErrorCode.LeaderNotAvailable,
                _ when code.IsRetriable() => ErrorCode.LeaderNotAvailable,
                _ => code,
            };
            _creating.TryRemove(new KeyValuePair<string, Task<ErrorCode>>(name, done.Task));
            done.TrySetResult(code);
        }
    }

    private static MetadataResponse.MetadataResponseTopic TopicMetadata(TopicImage topic, MetadataImage image, string listenerName, short version, bool includeOps)
    {
        var result = new MetadataResponse.MetadataResponseTopic
        {
            Name = topic.Name,
            TopicId = topic.Id,
            IsInternal = TopicNames.IsInternal(topic.Name),
            TopicAuthorizedOperations = includeOps ? AuthorizedOperations.Topic : AuthorizedOperations.NotRequested,
        };
        foreach (var (id, p) in topic.Partitions)
        {
            var (error, leader) = LeaderOf(p, image, listenerName, version);
            result.Partitions.Add(new MetadataResponse.MetadataResponsePartition
            {
                ErrorCode = (short)error,
                PartitionIndex = id,
                LeaderId = leader,
                LeaderEpoch = p.LeaderEpoch,
                ReplicaNodes = [.. p.Replicas],
                IsrNodes = [.. p.Isr],
                OfflineReplicas = OfflineReplicas(p, image, listenerName),
            });
        }
        return result;
    }

    /// <summary>The leader as clients see it: LEADER_NOT_AVAILABLE and -1 when there is none or it is
    /// not registered; LISTENER_NOT_FOUND (v6+; LEADER_NOT_AVAILABLE before) when it lacks the listener.</summary>
    private static (ErrorCode Error, int Leader) LeaderOf(PartitionRegistration p, MetadataImage image, string listenerName, short metadataVersion)
    {
        if (!p.HasLeader || image.Cluster.Broker(p.Leader) is not { } leader) return (ErrorCode.LeaderNotAvailable, -1);
        if (leader.Listener(listenerName) is null)
            return (metadataVersion >= 6 ? ErrorCode.ListenerNotFound : ErrorCode.LeaderNotAvailable, -1);
        return (ErrorCode.None, p.Leader);
    }

    /// <summary>Replicas on brokers that are unregistered, fenced, or lack the listener.</summary>
    private static List<int> OfflineReplicas(PartitionRegistration p, MetadataImage image, string listenerName)
    {
        var offline = new List<int>();
        foreach (int replica in p.Replicas)
            if (image.Cluster.Broker(replica) is not { } b || b.Fenced || b.Listener(listenerName) is null)
                offline.Add(replica);
        return offline;
    }

    private sealed record ListedBroker(int Id, Endpoint Endpoint, string? Rack, bool Fenced);

    /// <summary>Brokers having <paramref name="listenerName"/>, by id; fenced ones only when asked.</summary>
    private static List<ListedBroker> ListedBrokers(MetadataImage image, string listenerName, bool includeFenced)
    {
        var result = new List<ListedBroker>();
        foreach (var b in image.Cluster.Brokers.Values.OrderBy(b => b.Id))
        {
            if (b.Fenced && !includeFenced) continue;
            if (b.Listener(listenerName) is { } endpoint) result.Add(new ListedBroker(b.Id, endpoint, b.Rack, b.Fenced));
        }
        return result;
    }

    /// <summary>A random unfenced broker of the list, or -1 (Kafka's KRaft brokers answer this as "controller id").</summary>
    private static int RandomBroker(List<ListedBroker> brokers)
    {
        var alive = brokers.Where(b => !b.Fenced).ToList();
        return alive.Count == 0 ? -1 : alive[Random.Shared.Next(alive.Count)].Id;
    }

    // ---- DescribeCluster (60) ----------------------------------------------------------------

    /// <summary>
    /// DescribeCluster v0–2 on a broker listener: EndpointType 1 (brokers) lists the unfenced brokers
    /// (v2 <c>IncludeFencedBrokers</c>: the fenced ones too, marked) with the endpoint of
    /// <paramref name="listenerName"/>; EndpointType 2 (controllers) is MISMATCHED_ENDPOINT_TYPE
    /// (ask a controller listener), anything else UNSUPPORTED_ENDPOINT_TYPE.
    /// </summary>
    public DescribeClusterResponse DescribeCluster(DescribeClusterRequest request, short version, string listenerName)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(listenerName);
        sbyte endpointType = version >= 1 ? request.EndpointType : (sbyte)1;
        var response = new DescribeClusterResponse { EndpointType = endpointType, ClusterId = _options.ClusterId };
        if (endpointType == 2)
        {
            response.ErrorCode = (short)ErrorCode.MismatchedEndpointType;
            response.ErrorMessage = "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER";
            return response;
        }
        if (endpointType != 1)
        {
            response.EndpointType = 1;
            response.ErrorCode = (short)ErrorCode.UnsupportedEndpointType;
            response.ErrorMessage = $"Unsupported endpoint type {endpointType}";
            return response;
        }
        var image = _image();
        var brokers = ListedBrokers(image, listenerName, includeFenced: version >= 2 && request.IncludeFencedBrokers);
        response.ControllerId = RandomBroker(brokers);
        response.Brokers = [.. brokers.Select(b => new DescribeClusterResponse.DescribeClusterBroker
        {
            BrokerId = b.Id, Host = b.Endpoint.Host, Port = b.Endpoint.Port, Rack = b.Rack, IsFenced = b.Fenced,
        })];
        if (request.IncludeClusterAuthorizedOperations) response.ClusterAuthorizedOperations = AuthorizedOperations.Cluster;
        return response;
    }

    // ---- DescribeTopicPartitions (75) --------------------------------------------------------

    /// <summary>
    /// DescribeTopicPartitions v0: the requested topics (all topics when the list is empty) in name
    /// order, from the cursor on (the cursor's topic from its partition), at most
    /// min(<c>ResponsePartitionLimit</c>, <c>max.request.partition.size.limit</c>) partitions in all
    /// (a limit below 1 counts as 1). <c>NextCursor</c> names the first partition left out, or the
    /// next topic's partition 0 when the limit ended exactly at a topic's end; null when everything
    /// was returned. Requested topics that do not exist are answered UNKNOWN_TOPIC_OR_PARTITION
    /// (INVALID_TOPIC_EXCEPTION for illegal names). A cursor naming a topic that is not requested,
    /// or a negative cursor partition, answers every requested topic INVALID_REQUEST.
    /// </summary>
    public DescribeTopicPartitionsResponse DescribeTopicPartitions(DescribeTopicPartitionsRequest request, short version, string listenerName)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(listenerName);
        var image = _image();
        var response = new DescribeTopicPartitionsResponse();
        bool all = request.Topics.Count == 0;
        var names = all
            ? image.Topics.TopicsByName.Keys.Order(StringComparer.Ordinal).ToList()
            : request.Topics.Select(t => t.Name).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var cursor = request.Cursor;
        if (cursor is not null && (cursor.PartitionIndex < 0 || (!all && !names.Contains(cursor.TopicName, StringComparer.Ordinal))))
        {
            foreach (var name in names)
                response.Topics.Add(new DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponseTopic
                {
                    ErrorCode = (short)ErrorCode.InvalidRequest, Name = name, IsInternal = TopicNames.IsInternal(name),
                });
            return response;
        }
        if (cursor is not null) names = names.Where(n => string.CompareOrdinal(n, cursor.TopicName) >= 0).ToList();

        int remaining = Math.Max(1, Math.Min(request.ResponsePartitionLimit, _options.MaxRequestPartitionSizeLimit));
        foreach (var name in names)
        {
            if (remaining == 0)
            {
                response.NextCursor = new DescribeTopicPartitionsResponse.Cursor { TopicName = name, PartitionIndex = 0 };
                break;
            }
            var topic = image.Topics.Topic(name);
            if (topic is null)
            {
                response.Topics.Add(new DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponseTopic
                {
                    ErrorCode = (short)(TopicNames.IsValid(name) ? ErrorCode.UnknownTopicOrPartition : ErrorCode.InvalidTopicException),
                    Name = name,
                    IsInternal = TopicNames.IsInternal(name),
                });
                continue;
            }
            int start = cursor is not null && cursor.TopicName == name ? cursor.PartitionIndex : 0;
            var entry = new DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponseTopic
            {
                Name = name,
                TopicId = topic.Id,
                IsInternal = TopicNames.IsInternal(name),
                TopicAuthorizedOperations = AuthorizedOperations.Topic,
            };
            response.Topics.Add(entry);
            foreach (var (id, p) in topic.Partitions)
            {
                if (id < start) continue;
                if (remaining == 0)
                {
                    response.NextCursor = new DescribeTopicPartitionsResponse.Cursor { TopicName = name, PartitionIndex = id };
                    break;
                }
                var (error, leader) = LeaderOf(p, image, listenerName, metadataVersion: 13);
                entry.Partitions.Add(new DescribeTopicPartitionsResponse.DescribeTopicPartitionsResponsePartition
                {
                    ErrorCode = (short)error,
                    PartitionIndex = id,
                    LeaderId = leader,
                    LeaderEpoch = p.LeaderEpoch,
                    ReplicaNodes = [.. p.Replicas],
                    IsrNodes = [.. p.Isr],
                    EligibleLeaderReplicas = [.. p.EligibleLeaderReplicasOrNull ?? []],
                    LastKnownElr = [.. p.LastKnownElrOrNull ?? []],
                    OfflineReplicas = OfflineReplicas(p, image, listenerName),
                });
                remaining--;
            }
            if (response.NextCursor is not null) break;
        }
        return response;
    }

    // ---- ApiVersions features (18) -----------------------------------------------------------

    /// <summary>
    /// The feature part of an ApiVersions answer (v3+, tagged fields): the features this broker
    /// supports (for request versions below 4, those whose lowest level is 0 are left out, as Kafka
    /// does for clients that cannot parse them), the finalized levels of the current image
    /// (min = max = level) and their epoch (the image's last contained offset).
    /// </summary>
    public ApiVersionsFeatures Features(short apiVersionsVersion)
    {
        var image = _image();
        var supported = _options.SupportedFeatures
            .Where(f => apiVersionsVersion >= 4 || f.MinSupportedVersion > 0)
            .OrderBy(f => f.Name, StringComparer.Ordinal)
            .Select(f => new ApiVersionsResponse.SupportedFeatureKey { Name = f.Name, MinVersion = f.MinSupportedVersion, MaxVersion = f.MaxSupportedVersion })
            .ToList();
        var finalized = image.Features.FinalizedLevels.OrderBy(f => f.Key, StringComparer.Ordinal)
            .Select(f => new ApiVersionsResponse.FinalizedFeatureKey { Name = f.Key, MinVersionLevel = f.Value, MaxVersionLevel = f.Value })
            .ToList();
        return new ApiVersionsFeatures(supported, finalized, image.Provenance.LastContainedOffset);
    }

    /// <summary>Sets the feature fields of <paramref name="response"/> (see <see cref="Features"/>).</summary>
    public void ApplyFeatures(ApiVersionsResponse response, short apiVersionsVersion)
    {
        ArgumentNullException.ThrowIfNull(response);
        var features = Features(apiVersionsVersion);
        response.SupportedFeatures = features.Supported;
        response.FinalizedFeatures = features.Finalized;
        response.FinalizedFeaturesEpoch = features.FinalizedEpoch;
    }
}

/// <summary>Supported and finalized features for an ApiVersions answer.</summary>
public sealed record ApiVersionsFeatures(
    List<ApiVersionsResponse.SupportedFeatureKey> Supported,
    List<ApiVersionsResponse.FinalizedFeatureKey> Finalized,
    long FinalizedEpoch);
