using System.Diagnostics;
using System.Net;
using System.Text;
using Fjord.Protocol.Records;
using Fjord.Raft;
using Fjord.Server.Raft;

namespace Fjord.Server.Tests.Raft;

/// <summary>Concurrent proposals to one <see cref="RaftNetworkDriver"/>: coalesced into shared batches,
/// yet each completes with its own last offset and its records stay contiguous and in order.</summary>
public sealed class RaftProposalCoalescingTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Each_concurrent_proposal_gets_its_own_last_offset_over_its_own_records()
    {
        var dir = _dir.Sub("single");
        Directory.CreateDirectory(dir);
        var log = PartitionLogRaftLog.Open(dir);
        var committed = new List<CommittedBatch>();
        var driver = new RaftNetworkDriver(1, new IPEndPoint(IPAddress.Loopback, 0), new RaftConfig(), log, new FileQuorumStateStore(dir),
            "coalescing-test", item => { if (item is CommittedBatch b) lock (committed) committed.Add(b); });
        try
        {
            driver.Start(new Dictionary<int, IPEndPoint> { [1] = new(IPAddress.Loopback, driver.BoundPort) });
            var sw = Stopwatch.StartNew();
            while (driver.Role != RaftRole.Leader && sw.Elapsed < Bound) await Task.Delay(10);
            Assert.Equal(RaftRole.Leader, driver.Role);

            const int proposals = 400;
            var values = Enumerable.Range(0, proposals).Select(p => Enumerable.Range(0, 1 + p % 7).Select(r => $"p{p}-r{r}").ToList()).ToList();
            var offsets = await Task.WhenAll(values.Select(v => Task.Run(() => driver.ProposeAsync(v.Select(Encoding.UTF8.GetBytes).ToList()))))
                .WaitAsync(Bound);
            long last = offsets.Max(o => o!.Value);
            while (driver.HighWatermark <= last && sw.Elapsed < Bound) await Task.Delay(10);
            Assert.True(driver.HighWatermark > last, $"high watermark {driver.HighWatermark}, last offset {last}");

            var byOffset = new Dictionary<long, string>();
            int dataBatches;
            lock (committed)
            {
                dataBatches = committed.Count(b => !b.IsControl);
                foreach (var batch in committed.Where(b => !b.IsControl))
                {
                    var reader = new RecordBatchReader(batch.Bytes);
                    while (reader.MoveNext())
                    {
                        using var records = reader.Current.OpenRecords(1 << 20);
                        foreach (var record in records) byOffset[reader.Current.BaseOffset + record.OffsetDelta] = Encoding.UTF8.GetString(record.ValueSpan);
                    }
                }
            }
            for (int p = 0; p < proposals; p++)
            {
                long end = offsets[p]!.Value;
                var expected = values[p];
                Assert.Equal(expected, Enumerable.Range(0, expected.Count).Select(i => byOffset[end - expected.Count + 1 + i]));
            }
            Assert.Equal(offsets.Length, offsets.Distinct().Count());
            Assert.True(dataBatches <= proposals);
            Assert.Null(driver.Fault);
        }
        finally
        {
            driver.Dispose();
            log.Close();
        }
    }
}
