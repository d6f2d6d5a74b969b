namespace Fjord.Storage.Tests.Cleaner;

public class OffsetMapTests
{
    [Fact]
    public void Latest_put_wins_and_absent_keys_read_minus_one()
    {
        var map = new OffsetMap(1 << 16);
        Assert.Equal(-1, map.Get(TestBatches.Key("a")));
        Assert.Equal(-1, map.LatestOffset);
        Assert.True(map.TryPut(TestBatches.Key("a"), 5));
        Assert.True(map.TryPut(TestBatches.Key("b"), 6));
        Assert.True(map.TryPut(TestBatches.Key("a"), 9));
        Assert.Equal(9, map.Get(TestBatches.Key("a")));
        Assert.Equal(6, map.Get(TestBatches.Key("b")));
        Assert.Equal(2, map.Count);
        Assert.Equal(9, map.LatestOffset);
        Assert.True(map.TryPut([], 10)); // an empty key is a key
        Assert.Equal(10, map.Get([]));

        map.Clear();
        Assert.Equal(0, map.Count);
        Assert.Equal(-1, map.Get(TestBatches.Key("a")));
        Assert.Equal(-1, map.LatestOffset);
    }

    [Fact]
    public void Memory_bounds_the_slots_and_a_full_map_refuses_only_new_keys()
    {
        var map = new OffsetMap(100 * OffsetMap.SlotBytes, loadFactor: 0.5);
        Assert.Equal(64, map.Slots); // the power of two at or below 100
        Assert.Equal(32, map.MaxEntries);
        for (int i = 0; i < 32; i++) Assert.True(map.TryPut(TestBatches.Key($"k{i}"), i));
        Assert.True(map.IsFull);
        Assert.False(map.TryPut(TestBatches.Key("new"), 100));
        Assert.Equal(-1, map.Get(TestBatches.Key("new")));
        Assert.Equal(31, map.LatestOffset); // a refused put changes nothing
        Assert.True(map.TryPut(TestBatches.Key("k3"), 200)); // an existing key still updates
        Assert.Equal(200, map.Get(TestBatches.Key("k3")));
        for (int i = 0; i < 32; i++) Assert.Equal(i == 3 ? 200 : i, map.Get(TestBatches.Key($"k{i}")));
    }

    [Fact]
    public void Latest_offset_only_moves_forward()
    {
        var map = new OffsetMap(1024);
        map.UpdateLatestOffset(50);
        map.UpdateLatestOffset(20);
        Assert.True(map.TryPut(TestBatches.Key("x"), 30));
        Assert.Equal(50, map.LatestOffset);
    }
}
