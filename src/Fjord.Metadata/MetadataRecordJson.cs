using System.Text;
using System.Text.Json;
using Fjord.Protocol;
using Fjord.Protocol.Metadata;

namespace Fjord.Metadata;

/// <summary>
/// Metadata records as JSON the way Kafka's metadata tools print them:
/// <c>{"type":"REGISTER_BROKER_RECORD","version":0,"data":{…}}</c>, where <c>data</c> is the
/// generated message's own JSON (camelCase fields that exist at that version).
/// </summary>
public static class MetadataRecordJson
{
    /// <summary>Kafka's MetadataRecordType name: the schema name in upper snake case (RegisterBrokerRecord → REGISTER_BROKER_RECORD).</summary>
    public static string TypeName(IKafkaMessage record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return UpperSnake(record.MessageSchema.Name);
    }

    public static string UpperSnake(string name)
    {
        var sb = new StringBuilder(name.Length + 8);
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsUpper(c) && i > 0 && (char.IsLower(name[i - 1]) || char.IsDigit(name[i - 1])
                                             || (i + 1 < name.Length && char.IsLower(name[i + 1]) && char.IsUpper(name[i - 1]))))
                sb.Append('_');
            sb.Append(char.ToUpperInvariant(c));
        }
        return sb.ToString();
    }

    public static string ToJson(MetadataRecord record, bool indented = false) => ToJson(record.Message, record.Version, indented);

    public static string ToJson(IKafkaMessage record, short version, bool indented = false)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented }))
            Write(json, record, version);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    public static void Write(Utf8JsonWriter json, IKafkaMessage record, short version)
    {
        ArgumentNullException.ThrowIfNull(json);
        json.WriteStartObject();
        json.WriteString("type", TypeName(record));
        json.WriteNumber("version", version);
        json.WritePropertyName("data");
        record.WriteJson(json, version);
        json.WriteEndObject();
    }
}
