namespace Fjord.Protocol;

/// <summary>Decodes one generated message type (a delegate because the reader is a ref struct).</summary>
public delegate IKafkaMessage MessageReader(ref KafkaReader reader, short version);

/// <summary>A generated message type: its schema, its class, a factory and its decoder.</summary>
public sealed record MessageType(MessageSchema Schema, Type ClrType, Func<IKafkaMessage> Create, MessageReader Read);

/// <summary>One Kafka API: key, name, versions, the listeners that serve it, and its two message types.</summary>
public sealed record ApiDescriptor(
    short ApiKey,
    string Name,
    VersionRange Versions,
    VersionRange FlexibleVersions,
    IReadOnlyList<string> Listeners,
    MessageType Request,
    MessageType Response)
{
    public bool IsFlexible(short version) => FlexibleVersions.Contains(version);
}

public static partial class KafkaApis
{
    private static ApiDescriptor?[]? _byKey;

    /// <summary>The API with this key, or null.</summary>
    public static ApiDescriptor? Find(short apiKey)
    {
        var table = _byKey ??= BuildTable();
        return apiKey >= 0 && apiKey < table.Length ? table[apiKey] : null;
    }

    private static ApiDescriptor?[] BuildTable()
    {
        var table = new ApiDescriptor?[All.Max(a => a.ApiKey) + 1];
        foreach (var api in All) table[api.ApiKey] = api;
        return table;
    }
}

public static partial class MetadataRecordTypes
{
    private static MessageType?[]? _byType;

    /// <summary>The metadata record type with this id, or null.</summary>
    public static MessageType? Find(short recordType)
    {
        var table = _byType ??= BuildTable();
        return recordType >= 0 && recordType < table.Length ? table[recordType] : null;
    }

    private static MessageType?[] BuildTable()
    {
        var table = new MessageType?[All.Max(a => a.Schema.ApiKey) + 1];
        foreach (var t in All) table[t.Schema.ApiKey] = t;
        return table;
    }
}
