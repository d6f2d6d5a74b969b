namespace Fjord.Protocol;

/// <summary>An inclusive version range; <see cref="Highest"/> is <see cref="short.MaxValue"/> for "and later".</summary>
public readonly record struct VersionRange(short Lowest, short Highest)
{
    public static readonly VersionRange None = new(1, 0);
    public bool IsNone => Lowest > Highest;
    public bool Contains(short version) => version >= Lowest && version <= Highest;
    public override string ToString() => IsNone ? "none" : Highest == short.MaxValue ? $"{Lowest}+" : Lowest == Highest ? $"{Lowest}" : $"{Lowest}-{Highest}";
}

public enum MessageKind { Request, Response, Header, Metadata, Data }

/// <summary>The parsed schema of a generated message, for tests and tools (JSON, docs, the metadata shell).</summary>
public sealed record MessageSchema(
    MessageKind Kind,
    string Name,
    short ApiKey,
    VersionRange Versions,
    VersionRange FlexibleVersions,
    IReadOnlyList<FieldSchema> Fields);

/// <summary>One field. <see cref="Type"/> is the schema's spelling (<c>int32</c>, <c>[]string</c>,
/// <c>[]TopicData</c>, <c>Cursor</c>); <see cref="StructFields"/> is set for struct and struct-array fields.</summary>
public sealed record FieldSchema(
    string Name,
    string Type,
    VersionRange Versions,
    VersionRange NullableVersions,
    int Tag,
    string? Default,
    bool Ignorable,
    bool IsMapKey,
    bool AlwaysClassic,
    string? StructName,
    IReadOnlyList<FieldSchema>? StructFields)
{
    public bool IsTagged => Tag >= 0;
    public bool IsArray => Type.StartsWith("[]", StringComparison.Ordinal);
    public string ElementType => IsArray ? Type[2..] : Type;
}
