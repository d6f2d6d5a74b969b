namespace Fjord.Protocol;

/// <summary>
/// The one exception the decoders throw for bytes that are not a valid message: truncated input,
/// impossible lengths, negative counts, malformed varints, bad checksums. <see cref="Field"/> names
/// where decoding stopped (for example <c>ProduceRequest.TopicData.Name</c>).
/// </summary>
public sealed class ProtocolDecodeException : Exception
{
    public ProtocolDecodeException(string field, string problem)
        : base($"cannot decode {field}: {problem}")
    {
        Field = field;
        Problem = problem;
    }

    public string Field { get; }
    public string Problem { get; }
}

/// <summary>A message that cannot be written at the requested version (a field that version lacks
/// holds a non-default value, or a non-nullable field holds null).</summary>
public sealed class ProtocolEncodeException(string message) : Exception(message);
