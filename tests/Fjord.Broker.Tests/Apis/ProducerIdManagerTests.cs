using Fjord.Broker.Apis;
using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Tests.Apis;

public sealed class ProducerIdManagerTests
{
    /// <summary>A controller handing out blocks of <paramref name="length"/> ids from 0, checking the broker epoch.</summary>
    private static ScriptedControllerChannel Allocator(int length, long epoch = 42)
    {
        var channel = new ScriptedControllerChannel();
        long next = 0;
        channel.Answer((r, v) =>
        {
            var request = Assert.IsType<AllocateProducerIdsRequest>(r);
            Assert.Equal(0, v);
            Assert.Equal(3, request.BrokerId);
            if (request.BrokerEpoch != epoch) return new AllocateProducerIdsResponse { ErrorCode = (short)ErrorCode.StaleBrokerEpoch };
            var block = new AllocateProducerIdsResponse { ProducerIdStart = next, ProducerIdLen = length };
            next += length;
            return block;
        });
        return channel;
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached in time");
            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task Ids_come_from_blocks_in_order_with_epoch_zero()
    {
        var channel = Allocator(10);
        var manager = new ProducerIdManager(3, () => 42, channel);
        var response = await manager.InitProducerIdAsync(new InitProducerIdRequest { TransactionalId = null, TransactionTimeoutMs = 60000 }, 4);
        Assert.Equal((0, 0L, (short)0), (response.ErrorCode, response.ProducerId, response.ProducerEpoch));
        Assert.Equal(new ProducerIdBlock(0, 10), manager.CurrentBlock);
        for (long expected = 1; expected < 25; expected++)
            Assert.Equal(expected, await manager.NextProducerIdAsync());
        Assert.Equal(new ProducerIdBlock(20, 10), manager.CurrentBlock);
        Assert.Equal(3, manager.BlockRequests);
    }

    [Fact]
    public async Task Next_block_is_prefetched_when_ninety_percent_is_used()
    {
        var channel = Allocator(10);
        var manager = new ProducerIdManager(3, () => 42, channel);
        for (int i = 0; i < 8; i++) await manager.NextProducerIdAsync();
        Assert.Equal(1, manager.BlockRequests); // 8 of 10 used: no prefetch yet
        Assert.Equal(8, await manager.NextProducerIdAsync()); // 9 of 10: prefetch starts
        await WaitUntil(() => manager.PrefetchedBlock is not null);
        Assert.Equal(new ProducerIdBlock(10, 10), manager.PrefetchedBlock);
        Assert.Equal(2, manager.BlockRequests);
        Assert.Equal(9, await manager.NextProducerIdAsync());
        Assert.Equal(10, await manager.NextProducerIdAsync()); // switched without waiting for the controller
        Assert.Equal(new ProducerIdBlock(10, 10), manager.CurrentBlock);
        Assert.Null(manager.PrefetchedBlock);
        Assert.Equal(2, manager.BlockRequests);
    }

    [Fact]
    public async Task Exhaustion_with_the_controller_unreachable_is_retriable_and_recovers()
    {
        var channel = Allocator(2);
        var manager = new ProducerIdManager(3, () => 42, channel);
        var working = channel.Handler;
        Assert.Equal(0, await manager.NextProducerIdAsync());
        channel.Handler = (_, _) => Task.FromException<IKafkaMessage>(new TimeoutException("controller unreachable"));
        Assert.Equal(1, await manager.NextProducerIdAsync()); // 50 %: no prefetch yet ... the last id of the block
        var failed = await manager.InitProducerIdAsync(new InitProducerIdRequest { TransactionalId = null }, 2);
        Assert.Equal(((short)ErrorCode.CoordinatorLoadInProgress, -1L), (failed.ErrorCode, failed.ProducerId));
        Assert.Contains("TimeoutException", manager.LastError);

        channel.Handler = working;
        var recovered = await manager.InitProducerIdAsync(new InitProducerIdRequest { TransactionalId = null }, 2);
        Assert.Equal((0, 2L), (recovered.ErrorCode, recovered.ProducerId));
    }

    [Fact]
    public async Task A_stale_epoch_or_a_block_going_back_is_refused()
    {
        long epoch = 41;
        var channel = Allocator(5, epoch: 42);
        var manager = new ProducerIdManager(3, () => epoch, channel);
        Assert.Equal(-1, await manager.NextProducerIdAsync());
        Assert.Contains("StaleBrokerEpoch", manager.LastError);
        epoch = 42;
        Assert.Equal(0, await manager.NextProducerIdAsync());

        var going = new ScriptedControllerChannel();
        going.Answer((_, _) => new AllocateProducerIdsResponse { ProducerIdStart = 100, ProducerIdLen = 1 });
        var second = new ProducerIdManager(3, () => 42, going);
        Assert.Equal(100, await second.NextProducerIdAsync());
        Assert.Equal(-1, await second.NextProducerIdAsync()); // the same block again: not after the previous one
        Assert.Contains("not after", second.LastError);
    }

    [Fact]
    public async Task Transactional_ids_are_not_coordinated_here()
    {
        var channel = Allocator(10);
        var response = await new ProducerIdManager(3, () => 42, channel).InitProducerIdAsync(new InitProducerIdRequest { TransactionalId = "tx" }, 4);
        Assert.Equal(((short)ErrorCode.NotCoordinator, -1L), (response.ErrorCode, response.ProducerId));
        Assert.Empty(channel.Sent);
    }

    [Fact]
    public async Task Concurrent_callers_get_unique_ids_and_one_request_in_flight()
    {
        var channel = Allocator(200);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inner = channel.Handler;
        int inFlight = 0, maxInFlight = 0;
        channel.Handler = async (r, v) =>
        {
            int now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref maxInFlight, now);
            await gate.Task;
            await Task.Yield();
            Interlocked.Decrement(ref inFlight);
            return await inner(r, v);
        };
        var manager = new ProducerIdManager(3, () => 42, channel);
        var tasks = Enumerable.Range(0, 500).Select(_ => Task.Run(() => manager.NextProducerIdAsync())).ToList();
        await WaitUntil(() => channel.Sent.Count >= 1);
        gate.SetResult();
        var ids = await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.All(ids, id => Assert.True(id >= 0));
        Assert.Equal(500, ids.Distinct().Count());
        Assert.Equal(1, maxInFlight);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current) { }
    }
}
