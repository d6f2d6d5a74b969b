using System.Collections.Frozen;
using Fjord.Controller;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Server.Raft;

namespace Fjord.Server.Controller;

/// <summary>
/// The controller listener's broker and admin RPCs, answered by the <see cref="QuorumController"/>:
/// each API key maps to one controller operation (see <see cref="ApiKeys"/>). Writes complete when
/// their records commit; a controller that is not active answers NOT_CONTROLLER in the response's
/// error fields, as every other rejection. DescribeClientQuotas reads the committed state
/// (<see cref="QuorumController.ReadCommitted{T}"/>), so it may be answered by a standby too and
/// never shows a write that could still be lost. Stateless apart from the controller; thread-safe.
/// </summary>
public sealed class ControllerRequestHandler : IControllerRequestHandler
{
    private readonly FrozenDictionary<short, Func<IKafkaMessage, short, Task<IKafkaMessage>>> _operations;

    public ControllerRequestHandler(QuorumController controller)
    {
        ArgumentNullException.ThrowIfNull(controller);
        var c = controller;
        _operations = new Dictionary<short, Func<IKafkaMessage, short, Task<IKafkaMessage>>>
        {
            [BrokerRegistrationRequest.ApiKey] = (r, v) => Up(c.RegisterBroker((BrokerRegistrationRequest)r, v)),
            [BrokerHeartbeatRequest.ApiKey] = (r, _) => Up(c.BrokerHeartbeat((BrokerHeartbeatRequest)r)),
            [UnregisterBrokerRequest.ApiKey] = (r, _) => Up(c.UnregisterBroker((UnregisterBrokerRequest)r)),
            [ControllerRegistrationRequest.ApiKey] = (r, _) => Up(c.RegisterController((ControllerRegistrationRequest)r)),
            [CreateTopicsRequest.ApiKey] = (r, v) => Up(c.CreateTopics((CreateTopicsRequest)r, v)),
            [DeleteTopicsRequest.ApiKey] = (r, v) => Up(c.DeleteTopics((DeleteTopicsRequest)r, v)),
            [CreatePartitionsRequest.ApiKey] = (r, _) => Up(c.CreatePartitions((CreatePartitionsRequest)r)),
            [AlterPartitionRequest.ApiKey] = (r, v) => Up(c.AlterPartition((AlterPartitionRequest)r, v)),
            [ElectLeadersRequest.ApiKey] = (r, v) => Up(c.ElectLeaders((ElectLeadersRequest)r, v)),
            [AlterPartitionReassignmentsRequest.ApiKey] = (r, v) => Up(c.AlterPartitionReassignments((AlterPartitionReassignmentsRequest)r, v)),
            [ListPartitionReassignmentsRequest.ApiKey] = (r, v) => Up(c.ListPartitionReassignments((ListPartitionReassignmentsRequest)r, v)),
            [IncrementalAlterConfigsRequest.ApiKey] = (r, _) => Up(c.IncrementalAlterConfigs((IncrementalAlterConfigsRequest)r)),
            [AlterConfigsRequest.ApiKey] = (r, _) => Up(c.AlterConfigs((AlterConfigsRequest)r)),
            [AlterClientQuotasRequest.ApiKey] = (r, _) => Up(c.AlterClientQuotas((AlterClientQuotasRequest)r)),
            [CreateAclsRequest.ApiKey] = (r, _) => Up(c.CreateAcls((CreateAclsRequest)r)),
            [DeleteAclsRequest.ApiKey] = (r, _) => Up(c.DeleteAcls((DeleteAclsRequest)r)),
            [AlterUserScramCredentialsRequest.ApiKey] = (r, _) => Up(c.AlterUserScramCredentials((AlterUserScramCredentialsRequest)r)),
            [UpdateFeaturesRequest.ApiKey] = (r, v) => Up(c.UpdateFeatures((UpdateFeaturesRequest)r, v)),
            [AllocateProducerIdsRequest.ApiKey] = (r, _) => Up(c.AllocateProducerIds((AllocateProducerIdsRequest)r)),
            [DescribeClientQuotasRequest.ApiKey] = (r, _) =>
                Up(c.ReadCommitted(state => ClientQuotaControlManager.Describe(state, (DescribeClientQuotasRequest)r))),
        }.ToFrozenDictionary();
        ApiKeys = [.. _operations.Keys.Order()];
    }

    /// <summary>BrokerRegistration (62), BrokerHeartbeat (63), UnregisterBroker (64), ControllerRegistration (70),
    /// CreateTopics (19), DeleteTopics (20), CreatePartitions (37), AlterPartition (56), ElectLeaders (43),
    /// AlterPartitionReassignments (45), ListPartitionReassignments (46), IncrementalAlterConfigs (44), AlterConfigs (33), AlterClientQuotas (49), CreateAcls (30), DeleteAcls (31),
    /// AlterUserScramCredentials (51), UpdateFeatures (57), AllocateProducerIds (67), DescribeClientQuotas (48); in key order.</summary>
    public IReadOnlyCollection<short> ApiKeys { get; }

    public Task<IKafkaMessage> HandleAsync(IKafkaMessage request, ControllerRequestContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        if (!_operations.TryGetValue(request.MessageApiKey, out var operation))
            throw new ArgumentException($"API key {request.MessageApiKey} is not answered by the controller", nameof(request));
        return operation(request, context.ApiVersion);
    }

    private static async Task<IKafkaMessage> Up<T>(Task<T> answer) where T : IKafkaMessage => await answer.ConfigureAwait(false);
}
