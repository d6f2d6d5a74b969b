using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Apis;

/// <summary>
/// Admin requests a client sends to a broker, forwarded to the active controller through
/// <see cref="IControllerChannel"/>: direct forwarding (the same request at the same version; the
/// controller's response is the answer). No Envelope: the controller sees the broker as the
/// sender, which is fine while Fjord has no authorizer.
/// </summary>
/// <remarks>
/// <para><b>Failures.</b> When the controller cannot be reached in time (<see cref="TimeoutException"/>
/// from the channel) every entry of the response — each topic, resource, ACL creation, filter,
/// quota entity, user, feature, partition, plus the top-level error code where the response has
/// one — is REQUEST_TIMED_OUT (retriable: clients retry). Any other failure of the channel answers
/// UNKNOWN_SERVER_ERROR in the same shape. Cancellation of the caller's token propagates.</para>
/// <para><b>Read-your-writes.</b> The answer comes when the controller has committed the change,
/// not when this broker's own image has it: a Metadata request sent right after CreateTopics may
/// still miss the topic on this broker. (Kafka does not wait either for most APIs.)</para>
/// <para><b>Timeout.</b> The channel gets <c>max(ForwardingTimeout, the request's TimeoutMs)</c>.</para>
/// </remarks>
public sealed class AdminForwarding
{
    private readonly IControllerChannel _controller;

    public AdminForwarding(IControllerChannel controller, TimeSpan? forwardingTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(controller);
        _controller = controller;
        ForwardingTimeout = forwardingTimeout ?? TimeSpan.FromSeconds(30);
    }

    /// <summary>The least time the channel gets to deliver a request and bring the answer back.</summary>
    public TimeSpan ForwardingTimeout { get; }

    /// <summary>The API keys forwarded, in key order.</summary>
    public static IReadOnlyList<short> ApiKeys { get; } =
    [
        CreateTopicsRequest.ApiKey, DeleteTopicsRequest.ApiKey, CreateAclsRequest.ApiKey, DeleteAclsRequest.ApiKey,
        AlterConfigsRequest.ApiKey, CreatePartitionsRequest.ApiKey, ElectLeadersRequest.ApiKey, IncrementalAlterConfigsRequest.ApiKey,
        AlterPartitionReassignmentsRequest.ApiKey, ListPartitionReassignmentsRequest.ApiKey, AlterClientQuotasRequest.ApiKey,
        AlterUserScramCredentialsRequest.ApiKey, UpdateFeaturesRequest.ApiKey,
    ];

    /// <summary>Forwards any of <see cref="ApiKeys"/> (dispatch by request type).</summary>
    public async Task<IKafkaMessage> ForwardAsync(IKafkaMessage request, short version, CancellationToken cancellationToken = default) => request switch
    {
        CreateTopicsRequest r => await CreateTopicsAsync(r, version, cancellationToken).ConfigureAwait(false),
        DeleteTopicsRequest r => await DeleteTopicsAsync(r, version, cancellationToken).ConfigureAwait(false),
        CreatePartitionsRequest r => await CreatePartitionsAsync(r, version, cancellationToken).ConfigureAwait(false),
        IncrementalAlterConfigsRequest r => await IncrementalAlterConfigsAsync(r, version, cancellationToken).ConfigureAwait(false),
        AlterConfigsRequest r => await AlterConfigsAsync(r, version, cancellationToken).ConfigureAwait(false),
        CreateAclsRequest r => await CreateAclsAsync(r, version, cancellationToken).ConfigureAwait(false),
        DeleteAclsRequest r => await DeleteAclsAsync(r, version, cancellationToken).ConfigureAwait(false),
        AlterClientQuotasRequest r => await AlterClientQuotasAsync(r, version, cancellationToken).ConfigureAwait(false),
        AlterUserScramCredentialsRequest r => await AlterUserScramCredentialsAsync(r, version, cancellationToken).ConfigureAwait(false),
        UpdateFeaturesRequest r => await UpdateFeaturesAsync(r, version, cancellationToken).ConfigureAwait(false),
        ElectLeadersRequest r => await ElectLeadersAsync(r, version, cancellationToken).ConfigureAwait(false),
        AlterPartitionReassignmentsRequest r => await AlterPartitionReassignmentsAsync(r, version, cancellationToken).ConfigureAwait(false),
        ListPartitionReassignmentsRequest r => await ListPartitionReassignmentsAsync(r, version, cancellationToken).ConfigureAwait(false),
        null => throw new ArgumentNullException(nameof(request)),
        _ => throw new ArgumentException($"API key {request.MessageApiKey} ({request.GetType().Name}) is not forwarded", nameof(request)),
    };

    public Task<CreateTopicsResponse> CreateTopicsAsync(CreateTopicsRequest request, short version, CancellationToken cancellationToken = default) =>
        ForwardAsync(request, version, request.TimeoutMs, cancellationToken, (code, message) => new CreateTopicsResponse
        {
            Topics = [.. request.Topics.Select(t => new CreateTopicsResponse.CreatableTopicResult { Name = t.Name, ErrorCode = code, ErrorMessage = message })],
        });

    public Task<DeleteTopicsResponse> DeleteTopicsAsync(DeleteTopicsRequest request, short version, CancellationToken cancellationToken = default) =>
        ForwardAsync(request, version, request.TimeoutMs, cancellationToken, (code, message) => new DeleteTopicsResponse
        {
            Responses = version >= 6
                ? [.. request.Topics.Select(t => new DeleteTopicsResponse.DeletableTopicResult { Name = t.Name, TopicId = t.TopicId, ErrorCode = code, ErrorMessage = message })]
                : [.. request.TopicNames.Select(n => new DeleteTopicsResponse.DeletableTopicResult { Name = n, ErrorCode = code, ErrorMessage = message })],
        });

    public Task<CreatePartitionsResponse> CreatePartitionsAsync(CreatePartitionsRequest request, short version, CancellationToken cancellationToken = default) =>
        ForwardAsync(request, version, request.TimeoutMs, cancellationToken, (code, message) => new CreatePartitionsResponse
        {
            Results = [.. request.Topics.Select(t => new CreatePartitionsResponse.CreatePartitionsTopicResult { Name = t.Name, ErrorCode = code, ErrorMessage = message })],
        });

    public Task<IncrementalAlterConfigsResponse> IncrementalAlterConfigsAsync(IncrementalAlterConfigsRequest request, short version, CancellationToken cancellationToken = default) =>
        ForwardAsync(request, version, 0, cancellationToken, (code, message) => new IncrementalAlterConfigsResponse
        {
            Responses = [.. request.Resources.Select(r => new IncrementalAlterConfigsResponse.AlterConfigsResourceResponse
            {
                ErrorCode = code, ErrorMessage = message, ResourceType = r.ResourceType, ResourceName = r.ResourceName,
            })],
        });

    public Task<AlterConfigsResponse> AlterConfigsAsync(AlterConfigsRequest request, short version, CancellationToken cancellationToken = default) =>
        ForwardAsync(request, version, 0, cancellationToken, (code, message) => new AlterConfigsResponse
        {
            Responses = [.. request.Resources.Select(r => new AlterConfigsResponse.AlterConfigsResourceResponse
            {
                ErrorCode = code, ErrorMessage = message, ResourceType = r.ResourceType, ResourceName = r.ResourceName,
            })],
        });

    public Task<CreateAclsResponse> CreateAclsAsync(CreateAclsRequest request, short version, CancellationToken cancellationToken = default) =>
        ForwardAsync(request, version, 0, cancellationToken, (code, message) => new CreateAclsResponse
        {
            Results = [.. request.Creations.Select(_ => new CreateAclsResponse.AclCreationResult { ErrorCode = code, ErrorMessage = message })],
        });

    public Task<DeleteAclsResponse> DeleteAclsAsync(DeleteAclsRequest request, short version, CancellationToken cancellationToken = default) =>
        ForwardAsync(request, version, 0, cancellationToken, (code, message) => new DeleteAclsResponse
        {
            FilterResults = [.. request.Filters.Select(_ => new DeleteAclsResponse.DeleteAclsFilterResult { ErrorCode = code, ErrorMessage = message })],
        });

    public Task<AlterClientQuotasResponse> AlterClientQuotasAsync(AlterClientQuotasRequest request, short version, CancellationToken cancellationToken = default) =>
        ForwardAsync(request, version, 0, cancellationToken, (code, message) => new AlterClientQuotasResponse
        {
            Entries = [.. request.Entries.Select(e => new AlterClientQuotasResponse.EntryData
            {
                ErrorCode = code,
                ErrorMessage = message,
                Entity = [.. e.Entity.Select(p => new AlterClientQuotasResponse.EntityData { EntityType = p.EntityType, EntityName = p.EntityName })],
            })],
        });

    public Task<AlterUserScramCredentialsResponse> AlterUserScramCredentialsAsync(AlterUserScramCredentialsRequest request, short version, CancellationToken cancellationToken = default) =>
        ForwardAsync(request, version, 0, cancellationToken, (code, message) => new AlterUserScramCredentialsResponse
        {
            Results = [.. request.Deletions.Select(d => d.Name).Concat(request.Upsertions.Select(u => u.Name)).Distinct(StringComparer.Ordinal)
                .Select(user => new AlterUserScramCredentialsResponse.AlterUserScramCredentialsResult { User = user, ErrorCode = code, ErrorMessage = message })],
        });

    public Task<UpdateFeaturesResponse> UpdateFeaturesAsync(UpdateFeaturesRequest request, short version, CancellationToken cancellationToken = default) =>
        ForwardAsync(request, version, request.TimeoutMs, cancellationToken, (code, message) => new UpdateFeaturesResponse
        {
            ErrorCode = code,
            ErrorMessage = message,
            Results = version <= 1
                ? [.. request.FeatureUpdates.Select(f => new UpdateFeaturesResponse.UpdatableFeatureResult { Feature = f.Feature, ErrorCode = code, ErrorMessage = message })]
                : [],
        });

    public Task<ElectLeadersResponse> ElectLeadersAsync(ElectLeadersRequest request, short version, CancellationToken cancellationToken = default) =>
        ForwardAsync(request, version, request.TimeoutMs, cancellationToken, (code, message) => new ElectLeadersResponse
        {
            ErrorCode = version >= 1 ? code : (short)0,
            ReplicaElectionResults = request.TopicPartitions is null
                ? []
                : [.. request.TopicPartitions.Select(t => new ElectLeadersResponse.ReplicaElectionResult
                {
                    Topic = t.Topic,
                    PartitionResult = [.. t.Partitions.Select(p => new ElectLeadersResponse.PartitionResult { PartitionId = p, ErrorCode = code, ErrorMessage = message })],
                })],
        });

    public Task<AlterPartitionReassignmentsResponse> AlterPartitionReassignmentsAsync(AlterPartitionReassignmentsRequest request, short version, CancellationToken cancellationToken = default) =>
        ForwardAsync(request, version, request.TimeoutMs, cancellationToken, (code, message) => new AlterPartitionReassignmentsResponse
        {
            ErrorCode = code,
            ErrorMessage = message,
            AllowReplicationFactorChange = version < 1 || request.AllowReplicationFactorChange,
            Responses = [.. request.Topics.Select(t => new AlterPartitionReassignmentsResponse.ReassignableTopicResponse
            {
                Name = t.Name,
                Partitions = [.. t.Partitions.Select(p => new AlterPartitionReassignmentsResponse.ReassignablePartitionResponse
                {
                    PartitionIndex = p.PartitionIndex, ErrorCode = code, ErrorMessage = message,
                })],
            })],
        });

    public Task<ListPartitionReassignmentsResponse> ListPartitionReassignmentsAsync(ListPartitionReassignmentsRequest request, short version, CancellationToken cancellationToken = default) =>
        ForwardAsync(request, version, request.TimeoutMs, cancellationToken, (code, message) => new ListPartitionReassignmentsResponse
        {
            ErrorCode = code,
            ErrorMessage = message,
        });

    private async Task<TResponse> ForwardAsync<TResponse>(IKafkaMessage request, short version, int requestTimeoutMs, CancellationToken cancellationToken,
        Func<short, string, TResponse> failed) where TResponse : IKafkaMessage
    {
        ArgumentNullException.ThrowIfNull(request);
        var timeout = requestTimeoutMs > 0 && TimeSpan.FromMilliseconds(requestTimeoutMs) > ForwardingTimeout
            ? TimeSpan.FromMilliseconds(requestTimeoutMs)
            : ForwardingTimeout;
        try
        {
            return await _controller.SendAsync<TResponse>(request, version, timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return failed((short)ErrorCode.RequestTimedOut, $"The active controller did not answer within {(long)timeout.TotalMilliseconds} ms");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            return failed((short)ErrorCode.UnknownServerError, $"Forwarding to the active controller failed: {e.Message}");
        }
    }
}
