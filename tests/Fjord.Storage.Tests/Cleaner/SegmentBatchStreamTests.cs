namespace Fjord.Storage.Tests.Cleaner;

public sealed class SegmentBatchStreamTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fjord-segment-stream-").FullName;

    [Fact]
    public void Reads_every_batch_through_a_small_buffer_and_stops_at_the_given_size()
    {
        var batches = new List<byte[]>();
        long offset = 0;
        for (int i = 0; i < 20; i++)
        {
            int count = i == 7 ? 300 : 3; // one batch much larger than the buffer
            batches.Add(TestBatches.Build(Enumerable.Range(0, count).Select(j => new TestRecord(offset + j, $"k{j}", new string('x', 20)))));
            offset += count;
        }
        var path = Path.Combine(_dir, "seg.log");
        var all = batches.SelectMany(b => b).ToArray();
        File.WriteAllBytes(path, [.. all, .. new byte[100]]); // bytes past the published size are ignored

        using var handle = File.OpenHandle(path);
        var stream = new SegmentBatchStream(new FileRegion(handle, 0, all.Length), path, bufferBytes: 256, maxBatchBytes: 1 << 20);
        var read = new List<byte[]>();
        var positions = new List<long>();
        while (true)
        {
            positions.Add(stream.Position);
            if (!stream.TryRead(out var batch)) break;
            read.Add(batch.Bytes.ToArray());
        }
        Assert.Equal(batches, read);
        Assert.Equal(all.Length, positions[^1]);
    }

    [Fact]
    public void A_batch_cut_short_is_invalid_data_naming_the_file()
    {
        var batch = TestBatches.Build([new(0, "a", "1")]);
        var path = Path.Combine(_dir, "cut.log");
        File.WriteAllBytes(path, batch);
        using var handle = File.OpenHandle(path);
        var stream = new SegmentBatchStream(new FileRegion(handle, 0, batch.Length - 1), path, 64, 1 << 20);
        var e = Assert.Throws<InvalidDataException>(() => stream.TryRead(out _));
        Assert.Contains("cut.log", e.Message);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
