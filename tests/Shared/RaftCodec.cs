using Fjord.Protocol;

namespace Fjord.Raft.Testing;

/// <summary>Shared by the Raft unit tests and the simulation (linked into both projects): sends a
/// message through the real codec, as the network would.</summary>
internal static class RaftCodec
{
    /// <summary>Encodes the body at its API's highest version and decodes it back.</summary>
    public static RaftMessage ThroughCodec(RaftMessage message)
    {
        var api = KafkaApis.Find(message.ApiKey) ?? throw new InvalidOperationException($"no API {message.ApiKey}");
        short version = api.Versions.Highest;
        var bytes = message.Body.Serialize(version);
        var reader = new KafkaReader(bytes);
        var type = message.IsRequest ? api.Request : api.Response;
        var decoded = type.Read(ref reader, version);
        reader.EnsureAtEnd(type.Schema.Name);
        return message with { Body = decoded };
    }
}
