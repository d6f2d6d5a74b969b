using Fjord.Protocol.Messages;

namespace Fjord.Protocol.Tests.Generator;

/// <summary>Hand-computed byte vectors: the generated code must produce exactly these bytes.</summary>
public sealed class WireVectorTests
{
    private static string Hex(byte[] b) => Convert.ToHexString(b).ToLowerInvariant();

    [Fact]
    public void ApiVersionsRequest_v3_uses_compact_strings_and_an_empty_tag_section()
    {
        var request = new ApiVersionsRequest { ClientSoftwareName = "ab", ClientSoftwareVersion = "1" };
        // compact string "ab": 03 61 62; "1": 02 31; tagged fields: 00
        Assert.Equal("036162023100", Hex(request.Serialize(3)));
        // v0 has neither field; they are ignorable, so they are dropped.
        Assert.Equal("", Hex(request.Serialize(0)));
    }

    [Fact]
    public void ApiVersionsResponse_v0_uses_classic_arrays()
    {
        var response = new ApiVersionsResponse { ErrorCode = 0 };
        response.ApiKeys.Add(new ApiVersionsResponse.ApiVersion { ApiKey = 18, MinVersion = 0, MaxVersion = 4 });
        Assert.Equal("0000" + "00000001" + "0012" + "0000" + "0004", Hex(response.Serialize(0)));
    }

    [Fact]
    public void Tagged_fields_are_written_in_tag_order_with_unknown_ones_kept()
    {
        var response = new ApiVersionsResponse { FinalizedFeaturesEpoch = 5 };
        response.UnknownTaggedFields = [new RawTaggedField(7, [0xAA])];
        var bytes = response.Serialize(3);
        var decoded = KafkaMessages.Deserialize<ApiVersionsResponse>(bytes, 3);
        Assert.Equal(5, decoded.FinalizedFeaturesEpoch);
        Assert.Equal(0xAA, Assert.Single(decoded.UnknownTaggedFields!).Data[0]);
        // error 0000, empty compact array 01, throttle 00000000, then 2 tags: tag 1 (epoch, 8 bytes), tag 7 (unknown, 1 byte)
        Assert.Equal("0000" + "01" + "00000000" + "02" + "0108" + "0000000000000005" + "0701aa", Hex(bytes));
    }

    [Fact]
    public void Null_in_a_non_nullable_field_is_refused()
    {
        var request = new ApiVersionsRequest { ClientSoftwareName = null! };
        Assert.Throws<ProtocolEncodeException>(() => request.Serialize(3));
    }

    [Fact]
    public void Unsupported_version_is_refused_both_ways()
    {
        Assert.Throws<ProtocolEncodeException>(() => new ApiVersionsRequest().Serialize(99));
        Assert.Throws<ProtocolDecodeException>(() => KafkaMessages.Deserialize<ApiVersionsRequest>(Array.Empty<byte>(), 99));
    }
}
