using Fjord.Protocol.Metadata;
using Fjord.Protocol.Tests.Messages;

namespace Fjord.Protocol.Tests.Metadata;

/// <summary>The frame of a metadata record in a record value (PROTOCOL-TARGETS §4).</summary>
public sealed class MetadataRecordFrameTests
{
    public static TheoryData<string> AllRecordTypes()
    {
        var data = new TheoryData<string>();
        foreach (var type in MetadataRecordTypes.All) data.Add(type.Schema.Name);
        return data;
    }

    [Fact]
    public void NoOpRecord_v0_is_four_bytes()
    {
        Assert.Equal(new byte[] { 0x01, 0x14, 0x00, 0x00 }, MetadataRecordFrame.Encode(new NoOpRecord(), 0));
        Assert.Equal(4, MetadataRecordFrame.ComputeSize(new NoOpRecord(), 0));
    }

    [Fact]
    public void FeatureLevelRecord_frame_matches_a_hand_encoding()
    {
        var record = new FeatureLevelRecord { Name = "metadata.version", FeatureLevel = 22 };
        byte[] bytes = MetadataRecordFrame.Encode(record, 0);
        var expected = new List<byte> { 0x01, 0x0C, 0x00, (byte)("metadata.version".Length + 1) };
        expected.AddRange("metadata.version"u8.ToArray());
        expected.AddRange(new byte[] { 0x00, 0x16, 0x00 }); // int16 22, no tagged fields
        Assert.Equal(expected.ToArray(), bytes);

        var decoded = MetadataRecordFrame.Decode<FeatureLevelRecord>(bytes, out short version);
        Assert.Equal(0, version);
        Assert.Equal("metadata.version", decoded.Name);
        Assert.Equal(22, decoded.FeatureLevel);
    }

    [Theory]
    [MemberData(nameof(AllRecordTypes))]
    public void Every_record_type_round_trips_at_every_version(string name)
    {
        var type = MetadataRecordTypes.All.Single(t => t.Schema.Name == name);
        foreach (var version in SampleFactory.Versions(type.Schema))
        {
            for (int seed = 0; seed < 6; seed++)
            {
                var original = new SampleFactory(seed * 31 + version).Create(type, version, withUnknownTags: seed % 2 == 1);
                byte[] framed = MetadataRecordFrame.Encode(original, version);
                Assert.Equal(1, framed[0]);
                Assert.Equal(type.Schema.ApiKey, framed[1]);
                Assert.Equal(version, framed[2]);
                Assert.Equal(original.Serialize(version), framed[3..]);

                var decoded = MetadataRecordFrame.Decode(framed);
                Assert.Equal(version, decoded.Version);
                Assert.Equal(type.ClrType, decoded.Message.GetType());
                Assert.Equal(type.Schema.ApiKey, decoded.RecordType);
                Assert.Equal(framed, MetadataRecordFrame.Encode(decoded));
                Assert.Equal(original.ToJson(version), decoded.Message.ToJson(version));
            }
        }
    }

    [Fact]
    public void Frame_version_0_is_refused_as_the_preview_format()
    {
        var e = Assert.Throws<ProtocolDecodeException>(() => MetadataRecordFrame.Decode(new byte[] { 0x00, 0x14, 0x00, 0x00 }));
        Assert.Equal(MetadataRecordFrame.FrameVersionField, e.Field);
        Assert.Contains("2.8", e.Message);
    }

    [Theory]
    [InlineData(new byte[] { 0x02, 0x14, 0x00, 0x00 })]
    [InlineData(new byte[] { 0x80, 0x01, 0x14, 0x00, 0x00 })] // 128 as a two-byte varint
    public void Other_frame_versions_are_refused(byte[] value)
    {
        var e = Assert.Throws<ProtocolDecodeException>(() => MetadataRecordFrame.Decode(value));
        Assert.Equal(MetadataRecordFrame.FrameVersionField, e.Field);
    }

    [Fact]
    public void A_record_type_above_32767_is_refused()
    {
        // 32768 = 0x8000 as an unsigned varint: 80 80 02
        var e = Assert.Throws<ProtocolDecodeException>(() => MetadataRecordFrame.Decode(new byte[] { 0x01, 0x80, 0x80, 0x02, 0x00, 0x00 }));
        Assert.Equal(MetadataRecordFrame.RecordTypeField, e.Field);
        Assert.Contains("32768", e.Message);
    }

    [Fact]
    public void A_record_version_above_32767_is_refused()
    {
        var e = Assert.Throws<ProtocolDecodeException>(() => MetadataRecordFrame.Decode(new byte[] { 0x01, 0x14, 0x80, 0x80, 0x02, 0x00 }));
        Assert.Equal(MetadataRecordFrame.RecordVersionField, e.Field);
        Assert.Contains("32768", e.Message);
    }

    [Theory]
    [InlineData(6)]   // AccessControlRecord, removed
    [InlineData(13)]  // never used
    [InlineData(16)]  // RemoveFeatureLevelRecord, removed
    [InlineData(99)]
    public void Unknown_record_types_are_refused(byte recordType)
    {
        var e = Assert.Throws<ProtocolDecodeException>(() => MetadataRecordFrame.Decode(new byte[] { 0x01, recordType, 0x00, 0x00 }));
        Assert.Equal(MetadataRecordFrame.RecordTypeField, e.Field);
        Assert.Contains($"unknown metadata record type {recordType}", e.Message);
    }

    [Fact]
    public void A_version_outside_the_types_range_is_refused()
    {
        var e = Assert.Throws<ProtocolDecodeException>(() => MetadataRecordFrame.Decode(new byte[] { 0x01, 0x14, 0x01, 0x00 }));
        Assert.Equal(MetadataRecordFrame.RecordVersionField, e.Field);
        Assert.Contains("NoOpRecord", e.Message);
    }

    [Fact]
    public void Trailing_bytes_are_refused()
    {
        var e = Assert.Throws<ProtocolDecodeException>(() => MetadataRecordFrame.Decode(new byte[] { 0x01, 0x14, 0x00, 0x00, 0x00 }));
        Assert.Equal(MetadataRecordFrame.BodyField, e.Field);
        Assert.Contains("1 unexpected bytes", e.Message);
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x01 })]
    [InlineData(new byte[] { 0x01, 0x14 })]
    [InlineData(new byte[] { 0x01, 0x14, 0x00 })]
    [InlineData(new byte[] { 0x01, 0x0C, 0x00, 0x05, (byte)'m' })]
    public void Truncated_values_are_refused(byte[] value) =>
        Assert.Throws<ProtocolDecodeException>(() => MetadataRecordFrame.Decode(value));

    [Fact]
    public void Decode_of_the_wrong_type_names_both()
    {
        var e = Assert.Throws<ProtocolDecodeException>(() => MetadataRecordFrame.Decode<FeatureLevelRecord>(new byte[] { 0x01, 0x14, 0x00, 0x00 }, out _));
        Assert.Contains("FeatureLevelRecord", e.Message);
        Assert.Contains("NoOpRecord", e.Message);
    }

    [Fact]
    public void Only_metadata_records_can_be_framed()
    {
        var control = new Fjord.Protocol.Messages.KRaftVersionRecord();
        Assert.Throws<ArgumentException>(() => MetadataRecordFrame.Encode(control, 0));
    }

    [Fact]
    public void Encoding_at_an_unknown_version_fails()
    {
        Assert.Throws<ProtocolEncodeException>(() => MetadataRecordFrame.Encode(new NoOpRecord(), 1));
        Assert.Throws<ProtocolEncodeException>(() => MetadataRecordFrame.Encode(new NoOpRecord(), -1));
    }
}
