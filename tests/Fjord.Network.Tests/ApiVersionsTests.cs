using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;

namespace Fjord.Network.Tests;

public class ApiVersionsTests
{
    private static readonly ApiHandler Nothing = (_, _) => ValueTask.FromResult(ApiResponse.None);

    [Fact]
    public void Register_clips_to_the_schema_range_and_refuses_duplicates_unknown_keys_and_ApiVersions()
    {
        var registry = new ApiHandlerRegistry();
        var produce = registry.Register(ProduceRequest.ApiKey, -5, 400, Nothing);
        Assert.Equal(KafkaApis.Find(ProduceRequest.ApiKey)!.Versions, produce.Versions);
        var fetch = registry.Register(FetchRequest.ApiKey, 4, 12, Nothing);
        Assert.Equal(new VersionRange(4, 12), fetch.Versions);
        Assert.Throws<InvalidOperationException>(() => registry.Register(ProduceRequest.ApiKey, 3, 9, Nothing));
        Assert.Throws<ArgumentException>(() => registry.Register(ApiVersionsRequest.ApiKey, 0, 4, Nothing));
        Assert.Throws<ArgumentException>(() => registry.Register(999, 0, 4, Nothing));
        Assert.Throws<ArgumentException>(() => registry.Register(MetadataRequest.ApiKey, 300, 400, Nothing));
        Assert.Same(fetch, registry.Find(FetchRequest.ApiKey));
        Assert.Null(registry.Find(MetadataRequest.ApiKey));
        Assert.Null(registry.Find(-1));
    }

    [Fact]
    public void Describe_lists_exactly_the_registered_keys_plus_ApiVersions_with_the_supplied_features()
    {
        var registry = new ApiHandlerRegistry();
        registry.Register(MetadataRequest.ApiKey, 1, 9, Nothing);
        registry.Register(ProduceRequest.ApiKey, 3, 99, Nothing);
        registry.FeaturesSupplier = () => new ApiVersionsFeatures(
            [new SupportedFeature("metadata.version", 7, 27)], [new FinalizedFeature("metadata.version", 21, 21)], 42);
        var d = registry.Describe();
        Assert.Equal([ProduceRequest.ApiKey, MetadataRequest.ApiKey, ApiVersionsRequest.ApiKey], d.ApiKeys.Select(k => k.ApiKey).ToArray());
        var produce = d.ApiKeys.Single(k => k.ApiKey == ProduceRequest.ApiKey);
        Assert.Equal((3, KafkaApis.Find(ProduceRequest.ApiKey)!.Versions.Highest), (produce.MinVersion, produce.MaxVersion));
        Assert.Equal(42, d.FinalizedFeaturesEpoch);
        Assert.Equal("metadata.version", Assert.Single(d.SupportedFeatures).Name);
        Assert.Equal(21, Assert.Single(d.FinalizedFeatures).MaxVersionLevel);
        Assert.False(d.ZkMigrationReady);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task ApiVersions_is_answered_from_the_registry_at_the_requested_version(short version)
    {
        var registry = new ApiHandlerRegistry();
        registry.Register(MetadataRequest.ApiKey, 0, 12, Nothing);
        registry.FeaturesSupplier = () => new ApiVersionsFeatures([new SupportedFeature("kraft.version", 0, 1)], [], 7);
        await using var server = new TestServer(registry);
        using var client = await server.ConnectRawAsync();
        await client.SendRequestAsync(new ApiVersionsRequest { ClientSoftwareName = "test", ClientSoftwareVersion = "1.0" }, version, 77);
        var (header, body) = await client.ReadResponseAsync<ApiVersionsResponse>(version);
        Assert.Equal(77, header.CorrelationId);
        Assert.Equal(0, body.ErrorCode);
        Assert.Equal([MetadataRequest.ApiKey, ApiVersionsRequest.ApiKey], body.ApiKeys.Select(k => k.ApiKey).ToArray());
        if (version >= 3)
        {
            Assert.Equal(7, body.FinalizedFeaturesEpoch);
            Assert.Equal("kraft.version", Assert.Single(body.SupportedFeatures).Name);
        }
        Assert.Equal(1, server.Server.Stats().Requests(ApiVersionsRequest.ApiKey));
    }

    [Fact]
    public async Task A_newer_ApiVersions_version_gets_a_v0_UNSUPPORTED_VERSION_answer_and_the_connection_stays_usable()
    {
        await using var server = new TestServer(new ApiHandlerRegistry());
        using var client = await server.ConnectRawAsync();
        // a version from the future: header v2 (flexible), body bytes we do not know
        var header = new RequestHeader { RequestApiKey = ApiVersionsRequest.ApiKey, RequestApiVersion = 99, CorrelationId = 5, ClientId = "future" };
        var headerBytes = header.Serialize(2);
        byte[] futureBody = [0x00, 0x01, 0x02];
        var frame = new byte[4 + headerBytes.Length + futureBody.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(frame, headerBytes.Length + futureBody.Length);
        headerBytes.CopyTo(frame, 4);
        futureBody.CopyTo(frame, 4 + headerBytes.Length);
        await client.SendAsync(frame);
        var (h, body) = await client.ReadResponseAsync<ApiVersionsResponse>(0);
        Assert.Equal(5, h.CorrelationId);
        Assert.Equal((short)ErrorCode.UnsupportedVersion, body.ErrorCode);
        var only = Assert.Single(body.ApiKeys);
        Assert.Equal((ApiVersionsRequest.ApiKey, (short)0, (short)4), (only.ApiKey, only.MinVersion, only.MaxVersion));

        await client.SendRequestAsync(new ApiVersionsRequest { ClientSoftwareName = "x", ClientSoftwareVersion = "1" }, 4, 6);
        var (h2, again) = await client.ReadResponseAsync<ApiVersionsResponse>(4);
        Assert.Equal((6, (short)0), (h2.CorrelationId, again.ErrorCode));
    }

    [Fact]
    public async Task A_bad_client_software_name_gets_INVALID_REQUEST()
    {
        await using var server = new TestServer(new ApiHandlerRegistry());
        using var client = await server.ConnectRawAsync();
        await client.SendRequestAsync(new ApiVersionsRequest { ClientSoftwareName = "-bad name-", ClientSoftwareVersion = "1.0" }, 3, 1);
        var (_, body) = await client.ReadResponseAsync<ApiVersionsResponse>(3);
        Assert.Equal((short)ErrorCode.InvalidRequest, body.ErrorCode);
    }

    [Fact]
    public async Task Client_negotiates_versions_and_picks_the_highest_common_one()
    {
        var registry = new ApiHandlerRegistry();
        registry.Register(ListGroupsRequest.ApiKey, 1, 4, Nothing);
        await using var server = new TestServer(registry);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await using var client = await server.ConnectClientAsync(cts.Token);
        Assert.NotNull(client.ApiVersions);
        Assert.Equal(4, client.PickVersion(ListGroupsRequest.ApiKey, 5));
        Assert.Equal(2, client.PickVersion(ListGroupsRequest.ApiKey, 2));
        Assert.False(client.TryPickVersion(ListGroupsRequest.ApiKey, 0, 0, out _));
        Assert.Throws<NotSupportedException>(() => client.PickVersion(MetadataRequest.ApiKey, 12));
    }
}
