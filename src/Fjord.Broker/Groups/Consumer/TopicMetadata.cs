using Fjord.Common;
using Fjord.Metadata;

namespace Fjord.Broker.Groups.Consumer;

/// <summary>What a consumer group needs to know of a topic: its id, name and partition count.</summary>
public sealed record ConsumerGroupTopic(Uuid Id, string Name, int NumPartitions);

/// <summary>
/// The topics a consumer group coordinator sees at one instant (one metadata snapshot). The
/// coordinator never caches it across calls: each operation is given the current one.
/// </summary>
public interface ITopicMetadataSource
{
    ConsumerGroupTopic? ByName(string name);
    ConsumerGroupTopic? ById(Uuid id);

    /// <summary>Every topic (used to resolve regular-expression subscriptions).</summary>
    IEnumerable<ConsumerGroupTopic> All { get; }
}

/// <summary>An <see cref="ITopicMetadataSource"/> over a fixed list of topics (tests, tools).</summary>
public sealed class StaticTopicMetadata : ITopicMetadataSource
{
    private readonly Dictionary<string, ConsumerGroupTopic> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<Uuid, ConsumerGroupTopic> _byId = [];

    public StaticTopicMetadata(IEnumerable<ConsumerGroupTopic> topics)
    {
        foreach (var t in topics)
        {
            _byName[t.Name] = t;
            _byId[t.Id] = t;
        }
    }

    public static readonly StaticTopicMetadata Empty = new([]);

    public ConsumerGroupTopic? ByName(string name) => _byName.GetValueOrDefault(name);
    public ConsumerGroupTopic? ById(Uuid id) => _byId.GetValueOrDefault(id);
    public IEnumerable<ConsumerGroupTopic> All => _byName.Values;
}

/// <summary>The topics of a <see cref="MetadataImage"/> (the broker's view of the metadata log).</summary>
public sealed class ImageTopicMetadata(MetadataImage image) : ITopicMetadataSource
{
    public MetadataImage Image { get; } = image;

    public ConsumerGroupTopic? ByName(string name) => Convert(Image.Topics.Topic(name));
    public ConsumerGroupTopic? ById(Uuid id) => Convert(Image.Topics.Topic(id));
    public IEnumerable<ConsumerGroupTopic> All => Image.Topics.TopicsById.Values.Select(t => Convert(t)!);

    private static ConsumerGroupTopic? Convert(TopicImage? t) => t is null ? null : new ConsumerGroupTopic(t.Id, t.Name, t.PartitionCount);
}
