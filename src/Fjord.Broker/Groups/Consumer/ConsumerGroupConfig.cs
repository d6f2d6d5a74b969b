namespace Fjord.Broker.Groups.Consumer;

/// <summary>
/// Broker settings of the KIP-848 consumer group protocol (Kafka's config names and defaults).
/// </summary>
public sealed record ConsumerGroupConfig
{
    /// <summary><c>group.consumer.heartbeat.interval.ms</c>: the interval returned to members.</summary>
    public int HeartbeatIntervalMs { get; init; } = 5000;

    /// <summary><c>group.consumer.session.timeout.ms</c>: a member not heard of for this long is removed.</summary>
    public int SessionTimeoutMs { get; init; } = 45000;

    /// <summary><c>group.consumer.max.size</c>: members per group (Kafka's default: unbounded).</summary>
    public int MaxSize { get; init; } = int.MaxValue;

    /// <summary>
    /// <c>group.consumer.assignors</c>: the server-side assignors, by name; the first is the default
    /// one (used when no member asks for a specific one).
    /// </summary>
    public IReadOnlyList<IConsumerGroupAssignor> Assignors { get; init; } = [new UniformAssignor(), new RangeAssignor()];
}
