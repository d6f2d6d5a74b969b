using System.Buffers;
using System.Text.Json;
using Fjord.Common;
using Fjord.Protocol;

namespace Fjord.Server.Node;

/// <summary>
/// The error codes a response holds anywhere in it (top level or per entry), found through the
/// message's JSON form, so one rule covers every API (as Kafka's <c>errorCounts()</c> does).
/// Meant for control traffic (controller and admin requests), not the data path.
/// </summary>
public static class ResponseErrors
{
    /// <summary>Whether any <c>errorCode</c> field of <paramref name="response"/> (at <paramref name="version"/>) is <paramref name="code"/>.</summary>
    public static bool Contains(IKafkaMessage response, short version, ErrorCode code)
    {
        ArgumentNullException.ThrowIfNull(response);
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
            response.WriteJson(writer, version);
        var reader = new Utf8JsonReader(buffer.WrittenSpan);
        bool errorField = false;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.PropertyName)
                errorField = reader.ValueTextEquals("errorCode"u8);
            else if (errorField && reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out int value) && value == (int)code)
                return true;
            else
                errorField = false;
        }
        return false;
    }
}
