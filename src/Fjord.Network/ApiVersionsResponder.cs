using System.Text.RegularExpressions;
using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;

namespace Fjord.Network;

/// <summary>
/// Kafka's rules for answering ApiVersions, reusable by any listener (the broker listeners of
/// <see cref="KafkaServer"/>, and the controller listener):
/// <list type="bullet">
/// <item>a version newer than ours is answered at v0 (the response header is v0 for ApiVersions at every
/// version) with UNSUPPORTED_VERSION and only ApiVersions' own range, so the client retries with a version we know;</item>
/// <item>a v3+ request whose ClientSoftwareName or ClientSoftwareVersion breaks Kafka's pattern
/// (<c>[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?</c>) gets INVALID_REQUEST;</item>
/// <item>otherwise the listener's full answer, encoded at the request's version.</item>
/// </list>
/// </summary>
public static partial class ApiVersionsResponder
{
    [GeneratedRegex("^[a-zA-Z0-9](?:[a-zA-Z0-9\\-.]*[a-zA-Z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex SoftwareNameOrVersion();

    /// <summary>Kafka's validity rule for ApiVersions v3+ client software names and versions.</summary>
    public static bool IsValidClientSoftware(string? nameOrVersion) => nameOrVersion is not null && SoftwareNameOrVersion().IsMatch(nameOrVersion);

    /// <summary>
    /// Answers an ApiVersions request frame (size prefix stripped) with an encoded frame (size prefix
    /// included). <paramref name="describe"/> is called only for a valid request. Throws
    /// <see cref="ProtocolDecodeException"/> for a frame that cannot be read (the caller closes the connection).
    /// </summary>
    public static byte[] Answer(ReadOnlyMemory<byte> frame, Func<ApiVersionsResponse> describe)
    {
        ArgumentNullException.ThrowIfNull(describe);
        var reader = new KafkaReader(frame);
        var (header, _, api) = Frames.DecodeRequestHeader(ref reader, frame.Span);
        if (api.ApiKey != ApiVersionsRequest.ApiKey)
            throw new ProtocolDecodeException("RequestHeader.RequestApiKey", $"expected ApiVersions, got API key {api.ApiKey}");
        short version = header.RequestApiVersion;
        if (!api.Versions.Contains(version))
            return Frames.EncodeResponse(header.CorrelationId, ApiVersionsRequest.ApiKey, 0, UnsupportedVersion(api.Versions));
        var request = (ApiVersionsRequest)api.Request.Read(ref reader, version);
        reader.EnsureAtEnd(nameof(ApiVersionsRequest));
        var response = version >= 3 && !(IsValidClientSoftware(request.ClientSoftwareName) && IsValidClientSoftware(request.ClientSoftwareVersion))
            ? new ApiVersionsResponse { ErrorCode = (short)ErrorCode.InvalidRequest }
            : describe();
        return Frames.EncodeResponse(header.CorrelationId, ApiVersionsRequest.ApiKey, version, response);
    }

    /// <summary>The v0-format answer to a version newer than ours: UNSUPPORTED_VERSION and ApiVersions' own range.</summary>
    public static ApiVersionsResponse UnsupportedVersion(VersionRange apiVersionsRange)
    {
        var unsupported = new ApiVersionsResponse { ErrorCode = (short)ErrorCode.UnsupportedVersion };
        unsupported.ApiKeys.Add(new ApiVersionsResponse.ApiVersion
        { ApiKey = ApiVersionsRequest.ApiKey, MinVersion = apiVersionsRange.Lowest, MaxVersion = apiVersionsRange.Highest });
        return unsupported;
    }
}
