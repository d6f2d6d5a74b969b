using System.Collections.Concurrent;
using Fjord.Protocol.Messages;

namespace Fjord.Network.Tests;

public class ClientConnectionTests
{
    private const short LgVersion = 4;

    [Fact]
    public async Task Many_requests_in_flight_on_one_client_connection_each_get_their_own_response()
    {
        var gates = new ConcurrentDictionary<string, TaskCompletionSource<ApiResponse>>();
        TaskCompletionSource<ApiResponse> Gate(string t) => gates.GetOrAdd(t, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));
        var registry = new ApiHandlerRegistry();
        registry.Register<ListGroupsRequest>(0, 5, (_, r) => new ValueTask<ApiResponse>(Gate(r.StatesFilter[0]).Task));
        await using var server = new TestServer(registry, new NetworkOptions { PipelinedApiKeys = TestServer.PipelineListGroups });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await using var client = await server.ConnectClientAsync(cts.Token);
        const int n = 20;
        var sends = Enumerable.Range(0, n).Select(i => client.SendAsync<ListGroupsResponse>(Waits.TaggedRequest($"q{i}"), LgVersion, cts.Token)).ToArray();
        await Waits.UntilAsync(() => gates.Count == n, "every request to reach its handler");
        Assert.Equal(n, client.PendingCount);
        foreach (var i in Enumerable.Range(0, n).OrderBy(i => (i * 7) % n))
            Gate($"q{i}").SetResult(ApiResponse.Of(Waits.Tagged($"q{i}")));
        var responses = await Task.WhenAll(sends).WaitAsync(cts.Token);
        for (int i = 0; i < n; i++) Assert.Equal($"q{i}", responses[i].Groups[0].GroupId);
        Assert.Equal(0, client.PendingCount);
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task When_the_server_goes_away_every_pending_request_fails_and_later_sends_fail_too()
    {
        var started = 0;
        var registry = new ApiHandlerRegistry();
        registry.Register<ListGroupsRequest>(0, 5, async (ctx, _) =>
        {
            Interlocked.Increment(ref started);
            await Task.Delay(Timeout.Infinite, ctx.ConnectionClosed);
            return ApiResponse.None;
        });
        var server = new TestServer(registry, new NetworkOptions { ShutdownTimeout = TimeSpan.FromSeconds(5), PipelinedApiKeys = TestServer.PipelineListGroups });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await using var client = await server.ConnectClientAsync(cts.Token);
        var sends = Enumerable.Range(0, 5).Select(i => client.SendAsync<ListGroupsResponse>(Waits.TaggedRequest($"p{i}"), LgVersion, cts.Token)).ToArray();
        await Waits.UntilAsync(() => Volatile.Read(ref started) == 5, "the handlers to start");
        await server.DisposeAsync();
        foreach (var send in sends)
            await Assert.ThrowsAsync<KafkaConnectionException>(() => send.WaitAsync(cts.Token));
        Assert.False(client.IsConnected);
        Assert.Equal(0, client.PendingCount);
        await Assert.ThrowsAsync<KafkaConnectionException>(() => client.SendAsync<ListGroupsResponse>(Waits.TaggedRequest("late"), LgVersion, cts.Token));
        await Waits.UntilAsync(() => server.Server.HandlersInFlight == 0, "the handlers to end with their connection");
    }

    [Fact]
    public async Task Disposing_the_client_fails_its_pending_requests_and_a_cancelled_wait_is_dropped()
    {
        var registry = new ApiHandlerRegistry();
        var release = new TaskCompletionSource<ApiResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        var never = new TaskCompletionSource<ApiResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        registry.Register<ListGroupsRequest>(0, 5, (_, r) => r.StatesFilter[0] switch
        {
            "fast" => ValueTask.FromResult(ApiResponse.Of(Waits.Tagged("fast"))),
            "slow" => new ValueTask<ApiResponse>(release.Task),
            _ => new ValueTask<ApiResponse>(never.Task),
        });
        await using var server = new TestServer(registry);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var client = await server.ConnectClientAsync(cts.Token);

        using (var giveUp = new CancellationTokenSource())
        {
            var slow = client.SendAsync<ListGroupsResponse>(Waits.TaggedRequest("slow"), LgVersion, giveUp.Token);
            giveUp.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => slow);
        }
        release.SetResult(ApiResponse.Of(Waits.Tagged("slow"))); // the late answer is dropped, the connection stays up
        var fast = await client.SendAsync<ListGroupsResponse>(Waits.TaggedRequest("fast"), LgVersion, cts.Token);
        Assert.Equal("fast", fast.Groups[0].GroupId);
        Assert.True(client.IsConnected);

        var pending = client.SendAsync<ListGroupsResponse>(Waits.TaggedRequest("never"), LgVersion, cts.Token);
        await client.DisposeAsync();
        await Assert.ThrowsAsync<KafkaConnectionException>(() => pending.WaitAsync(cts.Token));
        never.SetResult(ApiResponse.None);
    }

    [Fact]
    public async Task Connecting_to_a_closed_port_throws_KafkaConnectionException()
    {
        int port;
        await using (var server = new TestServer(new ApiHandlerRegistry())) port = server.Port;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await Assert.ThrowsAsync<KafkaConnectionException>(() => KafkaClientConnection.ConnectAsync("127.0.0.1", port, "c", cts.Token));
    }

    [Fact]
    public async Task Two_hundred_concurrent_connections_are_served()
    {
        var registry = new ApiHandlerRegistry();
        registry.Register<ListGroupsRequest>(0, 5, async (_, r) =>
        {
            await Task.Yield();
            return ApiResponse.Of(Waits.Tagged(r.StatesFilter[0]));
        });
        await using var server = new TestServer(registry);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(25));
        const int n = 200;
        var clients = await Task.WhenAll(Enumerable.Range(0, n).Select(_ => server.ConnectClientAsync(cts.Token)));
        try
        {
            Assert.Equal(n, server.Server.Stats().OpenConnections);
            var results = await Task.WhenAll(clients.Select(async (c, i) =>
            {
                var a = await c.SendAsync<ListGroupsResponse>(Waits.TaggedRequest($"c{i}a"), LgVersion, cts.Token);
                var b = await c.SendAsync<ListGroupsResponse>(Waits.TaggedRequest($"c{i}b"), LgVersion, cts.Token);
                return a.Groups[0].GroupId + "," + b.Groups[0].GroupId;
            }));
            for (int i = 0; i < n; i++) Assert.Equal($"c{i}a,c{i}b", results[i]);
            var stats = server.Server.Stats();
            Assert.Equal(2 * n, stats.Requests(ListGroupsRequest.ApiKey));
            Assert.Equal(n, stats.Requests(ApiVersionsRequest.ApiKey));
            Assert.True(stats.BytesIn > 0 && stats.BytesOut > 0);
        }
        finally
        {
            foreach (var c in clients) await c.DisposeAsync();
        }
        await Waits.UntilAsync(() => server.Server.Stats() is { OpenConnections: 0, ConnectionsClosed: n }, "every connection to close");
    }
}
