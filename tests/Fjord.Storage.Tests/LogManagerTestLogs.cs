using Fjord.Protocol.Records;

namespace Fjord.Storage.Tests;

/// <summary>Puts records into a log for the <see cref="LogManager"/> tests.</summary>
internal static class LogManagerTestLogs
{
    /// <summary>Appends one batch of <paramref name="records"/> small records as leader in epoch 0.</summary>
    public static void Append(PartitionLog log, int records, FakeClock clock)
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions());
        for (int i = 0; i < records; i++) builder.Append(clock.UnixTimeMs, null, new byte[] { (byte)i });
        log.AppendAsLeader(builder.ToArray(), leaderEpoch: 0);
    }
}
