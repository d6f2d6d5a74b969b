using System.Buffers.Binary;
using Fjord.Protocol.Messages;

namespace Fjord.Network.Tests;

public class BadInputTests
{
    private const short LgVersion = 4;

    private static ApiHandlerRegistry EchoRegistry()
    {
        var registry = new ApiHandlerRegistry();
        registry.Register<ListGroupsRequest>(0, 4, (_, r) => ValueTask.FromResult(ApiResponse.Of(Waits.Tagged(r.StatesFilter.FirstOrDefault() ?? ""))));
        return registry;
    }

    private static async Task AssertServes(TestServer server, string tag)
    {
        using var client = await server.ConnectRawAsync();
        await client.SendRequestAsync(Waits.TaggedRequest(tag), LgVersion, 9);
        var (header, body) = await client.ReadResponseAsync<ListGroupsResponse>(LgVersion);
        Assert.Equal((9, tag), (header.CorrelationId, body.Groups[0].GroupId));
    }

    private static byte[] SizePrefix(int size)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(b, size);
        return b;
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(1_000_001)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public async Task An_oversized_or_negative_size_prefix_closes_the_connection_and_the_server_keeps_serving(int size)
    {
        await using var server = new TestServer(EchoRegistry(), new NetworkOptions { SocketRequestMaxBytes = 1_000_000 });
        using var open = await server.ConnectRawAsync();
        using var bad = await server.ConnectRawAsync();
        await bad.SendAsync(SizePrefix(size));
        Assert.True(await bad.IsClosedByServerAsync());
        Assert.Contains(server.LogLines, l => l.Contains("bad frame", StringComparison.Ordinal));
        await AssertServes(server, "after");
        await open.SendRequestAsync(Waits.TaggedRequest("still-open"), LgVersion, 3);
        Assert.Equal("still-open", (await open.ReadResponseAsync<ListGroupsResponse>(LgVersion)).Body.Groups[0].GroupId);
    }

    [Fact]
    public async Task A_frame_of_exactly_the_limit_is_read()
    {
        var frame = RawClient.Request(Waits.TaggedRequest("edge"), LgVersion, 4);
        await using var server = new TestServer(EchoRegistry(), new NetworkOptions { SocketRequestMaxBytes = frame.Length - 4 });
        using var client = await server.ConnectRawAsync();
        await client.SendAsync(frame);
        Assert.Equal("edge", (await client.ReadResponseAsync<ListGroupsResponse>(LgVersion)).Body.Groups[0].GroupId);
    }

    [Fact]
    public async Task Garbage_closes_only_that_connection()
    {
        await using var server = new TestServer(EchoRegistry());
        using var open = await server.ConnectRawAsync();
        var garbage = new byte[64];
        new Random(7).NextBytes(garbage);
        BinaryPrimitives.WriteInt32BigEndian(garbage, 60);
        BinaryPrimitives.WriteInt16BigEndian(garbage.AsSpan(4), ListGroupsRequest.ApiKey);
        BinaryPrimitives.WriteInt16BigEndian(garbage.AsSpan(6), LgVersion);
        using (var bad = await server.ConnectRawAsync())
        {
            await bad.SendAsync(garbage);
            Assert.True(await bad.IsClosedByServerAsync());
        }
        using (var tiny = await server.ConnectRawAsync())
        {
            await tiny.SendAsync([0, 0, 0, 2, 0, 16]); // a frame too short for a header
            Assert.True(await tiny.IsClosedByServerAsync());
        }
        using (var trailing = await server.ConnectRawAsync())
        {
            var ok = RawClient.Request(Waits.TaggedRequest("t"), LgVersion, 1);
            var longer = new byte[ok.Length + 3];
            ok.CopyTo(longer, 0);
            BinaryPrimitives.WriteInt32BigEndian(longer, ok.Length - 4 + 3); // body followed by junk
            await trailing.SendAsync(longer);
            Assert.True(await trailing.IsClosedByServerAsync());
        }
        await open.SendRequestAsync(Waits.TaggedRequest("alive"), LgVersion, 2);
        Assert.Equal("alive", (await open.ReadResponseAsync<ListGroupsResponse>(LgVersion)).Body.Groups[0].GroupId);
        await Waits.UntilAsync(() => server.Server.Stats().OpenConnections == 1, "only the good connection to stay open");
    }

    [Fact]
    public async Task An_unregistered_key_or_an_unsupported_version_closes_the_connection()
    {
        await using var server = new TestServer(EchoRegistry());
        using (var unregistered = await server.ConnectRawAsync())
        {
            await unregistered.SendRequestAsync(new MetadataRequest(), 9, 1);
            Assert.True(await unregistered.IsClosedByServerAsync());
        }
        using (var tooNew = await server.ConnectRawAsync())
        {
            await tooNew.SendRequestAsync(Waits.TaggedRequest("v5"), 5, 2); // registered 0-4
            Assert.True(await tooNew.IsClosedByServerAsync());
        }
        using (var unknownKey = await server.ConnectRawAsync())
        {
            var frame = new byte[4 + 10];
            BinaryPrimitives.WriteInt32BigEndian(frame, 10);
            BinaryPrimitives.WriteInt16BigEndian(frame.AsSpan(4), 30_000);
            await unknownKey.SendAsync(frame);
            Assert.True(await unknownKey.IsClosedByServerAsync());
        }
        Assert.Contains(server.LogLines, l => l.Contains("not served", StringComparison.Ordinal));
        Assert.Contains(server.LogLines, l => l.Contains("v5 is not supported", StringComparison.Ordinal));
        await AssertServes(server, "ok");
    }

    [Fact]
    public async Task Idle_connections_are_reaped_and_ones_with_a_request_in_flight_are_not()
    {
        var hold = new TaskCompletionSource<ApiResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        var registry = new ApiHandlerRegistry();
        registry.Register<ListGroupsRequest>(0, 4, (_, r) => r.StatesFilter[0] == "hold"
            ? new ValueTask<ApiResponse>(hold.Task)
            : ValueTask.FromResult(ApiResponse.Of(Waits.Tagged(r.StatesFilter[0]))));
        await using var server = new TestServer(registry, new NetworkOptions { ConnectionsMaxIdleMs = 300 });
        using var busy = await server.ConnectRawAsync();
        await busy.SendRequestAsync(Waits.TaggedRequest("hold"), LgVersion, 1);
        var start = Environment.TickCount64;
        using var idle = await server.ConnectRawAsync();
        Assert.True(await idle.IsClosedByServerAsync(TimeSpan.FromSeconds(10)));
        Assert.True(Environment.TickCount64 - start >= 250, "reaped before its idle time");
        Assert.Contains(server.LogLines, l => l.Contains("connections.max.idle.ms", StringComparison.Ordinal));
        hold.SetResult(ApiResponse.Of(Waits.Tagged("held")));
        Assert.Equal("held", (await busy.ReadResponseAsync<ListGroupsResponse>(LgVersion)).Body.Groups[0].GroupId);
    }
}

public class LargeFrameTests
{
    [Fact]
    public async Task A_large_request_arriving_in_pieces_is_read_whole_and_bytes_are_counted()
    {
        var registry = new ApiHandlerRegistry();
        registry.Register<ListGroupsRequest>(0, 4, (ctx, r) => ValueTask.FromResult(ApiResponse.Of(
            Waits.Tagged($"{r.StatesFilter.Count}:{r.StatesFilter.Sum(x => x.Length)}:{r.StatesFilter[^1][^1]}:{ctx.RequestSize}"))));
        await using var server = new TestServer(registry);
        using var client = await server.ConnectRawAsync();
        var request = new ListGroupsRequest();
        for (int i = 0; i < 100; i++) request.StatesFilter.Add(new string((char)('a' + i % 26), 30_000));
        var frame = RawClient.Request(request, 4, 1);
        Assert.True(frame.Length > 3_000_000);
        for (int offset = 0; offset < frame.Length; offset += 700_001) // several writes, as a slow client would
            await client.SendAsync(frame.AsSpan(offset, Math.Min(700_001, frame.Length - offset)).ToArray());
        var (_, body) = await client.ReadResponseAsync<ListGroupsResponse>(4);
        Assert.Equal($"100:3000000:{(char)('a' + 99 % 26)}:{frame.Length - 4}", body.Groups[0].GroupId);
        Assert.Equal(frame.Length, server.Server.Stats().BytesIn);
    }
}
