using System.Collections.Concurrent;
using Fjord.Protocol.Messages;

namespace Fjord.Network.Tests;

public class PipelineTests
{
    private const short LgVersion = 4;

    /// <summary>A ListGroups handler that answers only when the test releases that request's tag.</summary>
    private sealed class GatedHandler
    {
        public ConcurrentDictionary<string, TaskCompletionSource<ApiResponse>> Gates { get; } = new();
        public ConcurrentQueue<string> Started { get; } = new();

        public TaskCompletionSource<ApiResponse> Gate(string tag) =>
            Gates.GetOrAdd(tag, _ => new TaskCompletionSource<ApiResponse>(TaskCreationOptions.RunContinuationsAsynchronously));

        public ValueTask<ApiResponse> Handle(RequestContext context, ListGroupsRequest request)
        {
            var tag = request.StatesFilter[0];
            Started.Enqueue(tag);
            return new ValueTask<ApiResponse>(Gate(tag).Task);
        }
    }

    [Fact]
    public async Task Pipelined_requests_whose_handlers_finish_in_reverse_order_are_answered_in_request_order()
    {
        var gated = new GatedHandler();
        var registry = new ApiHandlerRegistry();
        registry.Register<ListGroupsRequest>(0, 5, gated.Handle);
        await using var server = new TestServer(registry, new NetworkOptions { PipelinedApiKeys = TestServer.PipelineListGroups });
        using var client = await server.ConnectRawAsync();
        const int n = 8;
        var all = new List<byte>();
        for (int i = 0; i < n; i++) all.AddRange(RawClient.Request(Waits.TaggedRequest($"r{i}"), LgVersion, 100 + i));
        await client.SendAsync([.. all]); // one write: the requests arrive together
        await Waits.UntilAsync(() => gated.Started.Count == n, "every handler to start");
        Assert.Equal(Enumerable.Range(0, n).Select(i => $"r{i}"), gated.Started); // invoked in request order
        for (int i = n - 1; i >= 0; i--) gated.Gate($"r{i}").SetResult(ApiResponse.Of(Waits.Tagged($"r{i}")));
        for (int i = 0; i < n; i++)
        {
            var (header, body) = await client.ReadResponseAsync<ListGroupsResponse>(LgVersion);
            Assert.Equal(100 + i, header.CorrelationId);
            Assert.Equal($"r{i}", Assert.Single(body.Groups).GroupId);
        }
    }

    [Fact]
    public async Task A_request_behind_an_unanswered_produce_runs_only_once_the_produce_is_answered()
    {
        // Default options: only Produce pipelines. A Metadata-like request read behind an acks=all Produce
        // must not be answered from the state before that Produce completes.
        var produceStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource<ApiResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        var listGroupsRan = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int state = 0;
        var registry = new ApiHandlerRegistry();
        registry.Register<ProduceRequest>(3, 13, (_, _) =>
        {
            produceStarted.TrySetResult();
            return new ValueTask<ApiResponse>(release.Task);
        });
        registry.Register<ListGroupsRequest>(0, 5, (_, _) =>
        {
            listGroupsRan.TrySetResult();
            return ValueTask.FromResult(ApiResponse.Of(Waits.Tagged($"state-{Volatile.Read(ref state)}")));
        });
        await using var server = new TestServer(registry);
        using var client = await server.ConnectRawAsync();
        await client.SendAsync([.. RawClient.Request(new ProduceRequest { Acks = 1, TimeoutMs = 1000 }, 9, 1),
            .. RawClient.Request(Waits.TaggedRequest("x"), LgVersion, 2)]); // one write: both arrive together
        await produceStarted.Task.WaitAsync(RawClient.Timeout);
        // A pipelining server would run the second handler at once; this one must not, however long we give it.
        await Task.WhenAny(listGroupsRan.Task, Task.Delay(500));
        Assert.False(listGroupsRan.Task.IsCompleted, "the ListGroups handler ran while the Produce before it was unanswered");
        Volatile.Write(ref state, 1);
        release.SetResult(ApiResponse.Of(new ProduceResponse()));
        var produce = await client.ReadResponseAsync<ProduceResponse>(9);
        var groups = await client.ReadResponseAsync<ListGroupsResponse>(LgVersion);
        Assert.Equal(1, produce.Header.CorrelationId);
        Assert.Equal((2, "state-1"), (groups.Header.CorrelationId, groups.Body.Groups[0].GroupId));
    }

    [Fact]
    public async Task A_request_without_response_in_the_middle_of_a_pipeline_is_skipped()
    {
        var registry = new ApiHandlerRegistry();
        registry.Register<ListGroupsRequest>(0, 5, (_, r) => ValueTask.FromResult(ApiResponse.Of(Waits.Tagged(r.StatesFilter[0]))));
        var produced = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        registry.Register<ProduceRequest>(3, 13, async (_, r) =>
        {
            await Task.Yield();
            produced.TrySetResult();
            return r.Acks == 0 ? ApiResponse.None : ApiResponse.Of(new ProduceResponse());
        });
        await using var server = new TestServer(registry);
        using var client = await server.ConnectRawAsync();
        var frames = RawClient.Request(Waits.TaggedRequest("a"), LgVersion, 1)
            .Concat(RawClient.Request(new ProduceRequest { Acks = 0, TimeoutMs = 1000 }, 9, 2))
            .Concat(RawClient.Request(Waits.TaggedRequest("c"), LgVersion, 3)).ToArray();
        await client.SendAsync(frames);
        var first = await client.ReadResponseAsync<ListGroupsResponse>(LgVersion);
        var second = await client.ReadResponseAsync<ListGroupsResponse>(LgVersion);
        Assert.Equal((1, "a"), (first.Header.CorrelationId, first.Body.Groups[0].GroupId));
        Assert.Equal((3, "c"), (second.Header.CorrelationId, second.Body.Groups[0].GroupId));
        Assert.True(produced.Task.IsCompleted);
        Assert.Equal(1, server.Server.Stats().Requests(ProduceRequest.ApiKey));
    }

    [Fact]
    public async Task The_in_flight_bound_pauses_reading_until_the_oldest_response_is_written()
    {
        var gated = new GatedHandler();
        var registry = new ApiHandlerRegistry();
        registry.Register<ListGroupsRequest>(0, 5, gated.Handle);
        await using var server = new TestServer(registry, new NetworkOptions { MaxInFlightRequestsPerConnection = 2, PipelinedApiKeys = TestServer.PipelineListGroups });
        using var client = await server.ConnectRawAsync();
        var all = Enumerable.Range(0, 5).SelectMany(i => RawClient.Request(Waits.TaggedRequest($"r{i}"), LgVersion, i)).ToArray();
        await client.SendAsync(all);
        await Waits.UntilAsync(() => gated.Started.Count == 2, "two handlers to start");
        await Task.Delay(200); // an absence check: no third request may be read meanwhile
        Assert.Equal(2, gated.Started.Count);
        gated.Gate("r1").SetResult(ApiResponse.Of(Waits.Tagged("r1")));
        await Task.Delay(100);
        Assert.Equal(2, gated.Started.Count); // r1 is done but r0 (older) is not written yet
        gated.Gate("r0").SetResult(ApiResponse.Of(Waits.Tagged("r0")));
        await Waits.UntilAsync(() => gated.Started.Count == 4, "two more handlers to start");
        for (int i = 2; i < 5; i++) gated.Gate($"r{i}").SetResult(ApiResponse.Of(Waits.Tagged($"r{i}")));
        for (int i = 0; i < 5; i++)
            Assert.Equal(i, (await client.ReadResponseAsync<ListGroupsResponse>(LgVersion)).Header.CorrelationId);
    }

    [Fact]
    public async Task CloseConnection_closes_after_the_earlier_responses_were_written()
    {
        var registry = new ApiHandlerRegistry();
        registry.Register<ListGroupsRequest>(0, 5, (_, r) => ValueTask.FromResult(
            r.StatesFilter[0] == "close" ? ApiResponse.CloseConnection : ApiResponse.Of(Waits.Tagged(r.StatesFilter[0]))));
        await using var server = new TestServer(registry);
        using var client = await server.ConnectRawAsync();
        await client.SendAsync(RawClient.Request(Waits.TaggedRequest("a"), LgVersion, 1)
            .Concat(RawClient.Request(Waits.TaggedRequest("close"), LgVersion, 2))
            .Concat(RawClient.Request(Waits.TaggedRequest("c"), LgVersion, 3)).ToArray());
        Assert.Equal(1, (await client.ReadResponseAsync<ListGroupsResponse>(LgVersion)).Header.CorrelationId);
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task A_handler_exception_closes_only_that_connection_and_is_logged()
    {
        var registry = new ApiHandlerRegistry();
        registry.Register<ListGroupsRequest>(0, 5, (_, r) => r.StatesFilter[0] == "boom"
            ? throw new InvalidOperationException("boom")
            : ValueTask.FromResult(ApiResponse.Of(Waits.Tagged(r.StatesFilter[0]))));
        await using var server = new TestServer(registry);
        using var bad = await server.ConnectRawAsync();
        using var good = await server.ConnectRawAsync();
        await bad.SendRequestAsync(Waits.TaggedRequest("boom"), LgVersion, 1);
        Assert.True(await bad.IsClosedByServerAsync());
        await good.SendRequestAsync(Waits.TaggedRequest("fine"), LgVersion, 2);
        Assert.Equal("fine", (await good.ReadResponseAsync<ListGroupsResponse>(LgVersion)).Body.Groups[0].GroupId);
        Assert.Contains(server.LogLines, l => l.Contains("boom", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_connection_closed_token_fires_for_handlers_still_waiting()
    {
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var registry = new ApiHandlerRegistry();
        registry.Register<ListGroupsRequest>(0, 5, async (ctx, _) =>
        {
            started.TrySetResult();
            try { await Task.Delay(Timeout.Infinite, ctx.ConnectionClosed); }
            catch (OperationCanceledException) { cancelled.TrySetResult(); }
            return ApiResponse.None;
        });
        await using var server = new TestServer(registry);
        var client = await server.ConnectRawAsync();
        await client.SendRequestAsync(Waits.TaggedRequest("x"), LgVersion, 1);
        await started.Task.WaitAsync(RawClient.Timeout);
        client.Dispose();
        await cancelled.Task.WaitAsync(RawClient.Timeout);
        await Waits.UntilAsync(() => server.Server.Stats().OpenConnections == 0, "the connection to be counted closed");
    }
}
