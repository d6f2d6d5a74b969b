using System.Buffers.Binary;
using Fjord.Protocol.Messages;

namespace Fjord.Protocol.Framing;

/// <summary>A decoded request: its header, the API it names, and its body.</summary>
public sealed record DecodedRequest(RequestHeader Header, short HeaderVersion, ApiDescriptor Api, IKafkaMessage Body)
{
    public short ApiVersion => Header.RequestApiVersion;
    public int CorrelationId => Header.CorrelationId;
}

/// <summary>
/// Kafka frames: a 4-byte big-endian size, then a header, then the body. The header's version
/// follows from the API and its version: request header v2 for flexible versions, otherwise v1
/// (v0 only for ControlledShutdown v0); response header v1 for flexible versions, otherwise v0,
/// except ApiVersions, whose response header is always v0 so that a client can read the answer
/// even when the broker does not support the version it asked for.
/// </summary>
public static class Frames
{
    public const int SizePrefixBytes = 4;
    private const short ApiVersionsKey = 18;
    private const short ControlledShutdownKey = 7;

    public static short RequestHeaderVersion(short apiKey, short apiVersion)
    {
        if (apiKey == ControlledShutdownKey && apiVersion == 0) return 0;
        var api = KafkaApis.Find(apiKey);
        return api is not null && api.IsFlexible(apiVersion) ? (short)2 : (short)1;
    }

    public static short ResponseHeaderVersion(short apiKey, short apiVersion)
    {
        if (apiKey == ApiVersionsKey) return 0;
        var api = KafkaApis.Find(apiKey);
        return api is not null && api.IsFlexible(apiVersion) ? (short)1 : (short)0;
    }

    /// <summary>Reads a frame's size prefix; a negative size or one above
    /// <paramref name="maxFrameBytes"/> (socket.request.max.bytes) is refused.</summary>
    public static int ReadSize(ReadOnlySpan<byte> prefix, int maxFrameBytes)
    {
        if (prefix.Length < SizePrefixBytes) throw new ProtocolDecodeException("Frame.Size", "fewer than 4 bytes");
        int size = BinaryPrimitives.ReadInt32BigEndian(prefix);
        if (size < 0) throw new ProtocolDecodeException("Frame.Size", $"negative frame size {size}");
        if (size > maxFrameBytes) throw new ProtocolDecodeException("Frame.Size", $"frame of {size} bytes exceeds the limit of {maxFrameBytes}");
        return size;
    }

    /// <summary>The API key and version of a request frame (without the size prefix), read without decoding the rest.</summary>
    public static (short ApiKey, short ApiVersion) PeekApi(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 4) throw new ProtocolDecodeException("RequestHeader.RequestApiKey", "frame shorter than 4 bytes");
        return (BinaryPrimitives.ReadInt16BigEndian(frame), BinaryPrimitives.ReadInt16BigEndian(frame[2..]));
    }

    /// <summary>Decodes the header of a request frame and leaves <paramref name="reader"/> at the body.</summary>
    public static (RequestHeader Header, short HeaderVersion, ApiDescriptor Api) DecodeRequestHeader(ref KafkaReader reader, ReadOnlySpan<byte> frame)
    {
        var (apiKey, apiVersion) = PeekApi(frame);
        var api = KafkaApis.Find(apiKey) ?? throw new ProtocolDecodeException("RequestHeader.RequestApiKey", $"unknown API key {apiKey}");
        short headerVersion = RequestHeaderVersion(apiKey, apiVersion);
        var header = RequestHeader.Read(ref reader, headerVersion);
        return (header, headerVersion, api);
    }

    /// <summary>Decodes a whole request frame (without the size prefix); the body must fill the frame exactly.</summary>
    public static DecodedRequest DecodeRequest(ReadOnlyMemory<byte> frame)
    {
        var reader = new KafkaReader(frame);
        var (header, headerVersion, api) = DecodeRequestHeader(ref reader, frame.Span);
        if (!api.Versions.Contains(header.RequestApiVersion))
            throw new ProtocolDecodeException(api.Name + "Request", $"version {header.RequestApiVersion} is not supported ({api.Versions})");
        var body = api.Request.Read(ref reader, header.RequestApiVersion);
        reader.EnsureAtEnd(api.Name + "Request");
        return new DecodedRequest(header, headerVersion, api, body);
    }

    /// <summary>Encodes a request with its size prefix.</summary>
    public static byte[] EncodeRequest(RequestHeader header, IKafkaMessage body)
    {
        short headerVersion = RequestHeaderVersion(header.RequestApiKey, header.RequestApiVersion);
        return Encode(header, headerVersion, body, header.RequestApiVersion);
    }

    /// <summary>Encodes a response with its size prefix.</summary>
    public static byte[] EncodeResponse(int correlationId, short apiKey, short apiVersion, IKafkaMessage body)
    {
        var header = new ResponseHeader { CorrelationId = correlationId };
        return Encode(header, ResponseHeaderVersion(apiKey, apiVersion), body, apiVersion);
    }

    /// <summary>Decodes a response frame (without the size prefix) for a request of this API and version.</summary>
    public static (ResponseHeader Header, IKafkaMessage Body) DecodeResponse(short apiKey, short apiVersion, ReadOnlyMemory<byte> frame)
    {
        var api = KafkaApis.Find(apiKey) ?? throw new ProtocolDecodeException("ResponseHeader", $"unknown API key {apiKey}");
        var reader = new KafkaReader(frame);
        var header = ResponseHeader.Read(ref reader, ResponseHeaderVersion(apiKey, apiVersion));
        var body = api.Response.Read(ref reader, apiVersion);
        reader.EnsureAtEnd(api.Name + "Response");
        return (header, body);
    }

    private static byte[] Encode(IKafkaMessage header, short headerVersion, IKafkaMessage body, short bodyVersion)
    {
        int headerSize = header.ComputeSize(headerVersion);
        int bodySize = body.ComputeSize(bodyVersion);
        var buffer = new byte[SizePrefixBytes + headerSize + bodySize];
        BinaryPrimitives.WriteInt32BigEndian(buffer, headerSize + bodySize);
        var writer = new KafkaWriter(buffer.AsSpan(SizePrefixBytes));
        header.Write(ref writer, headerVersion);
        body.Write(ref writer, bodyVersion);
        if (writer.Position != headerSize + bodySize)
            throw new InvalidOperationException($"{body.GetType().Name} v{bodyVersion}: size computed {headerSize + bodySize}, written {writer.Position}");
        return buffer;
    }
}
