using System.Text.Json;

namespace Fjord.Protocol;

/// <summary>A generated message: one class spanning every version of one schema.</summary>
public interface IKafkaMessage
{
    /// <summary>The API key (requests, responses), record type (metadata records), or -1.</summary>
    short MessageApiKey { get; }
    short LowestVersion { get; }
    short HighestVersion { get; }
    MessageSchema MessageSchema { get; }

    /// <summary>Tagged fields this version of Fjord does not know, kept so they are written back.</summary>
    List<RawTaggedField>? UnknownTaggedFields { get; set; }

    /// <summary>The exact encoded size at <paramref name="version"/>.</summary>
    int ComputeSize(short version);

    void Write(ref KafkaWriter writer, short version);

    /// <summary>Writes the fields that exist at <paramref name="version"/> as a JSON object (camelCase names).</summary>
    void WriteJson(Utf8JsonWriter writer, short version);
}

/// <summary>A generated message type, with its static decoder.</summary>
public interface IKafkaMessage<TSelf> : IKafkaMessage where TSelf : IKafkaMessage<TSelf>
{
    static abstract TSelf Read(ref KafkaReader reader, short version);
}

/// <summary>A tagged field kept as raw bytes (its tag was unknown to the decoder).</summary>
public sealed record RawTaggedField(int Tag, byte[] Data);

/// <summary>Encoding helpers over any generated message.</summary>
public static class KafkaMessages
{
    /// <summary>Encodes <paramref name="message"/> into a new array of exactly its size.</summary>
    public static byte[] Serialize(this IKafkaMessage message, short version)
    {
        var buffer = new byte[message.ComputeSize(version)];
        var writer = new KafkaWriter(buffer);
        message.Write(ref writer, version);
        if (writer.Position != buffer.Length)
            throw new InvalidOperationException($"{message.GetType().Name} v{version}: wrote {writer.Position} bytes but computed {buffer.Length}");
        return buffer;
    }

    /// <summary>Decodes a whole buffer as <typeparamref name="T"/>; trailing bytes are an error.</summary>
    public static T Deserialize<T>(ReadOnlyMemory<byte> bytes, short version) where T : IKafkaMessage<T>
    {
        var reader = new KafkaReader(bytes);
        var message = T.Read(ref reader, version);
        reader.EnsureAtEnd(typeof(T).Name);
        return message;
    }

    public static string ToJson(this IKafkaMessage message, short version, bool indented = false)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented }))
            message.WriteJson(json, version);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }
}
