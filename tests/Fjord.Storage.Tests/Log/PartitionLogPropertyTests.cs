using System.Text;
using Fjord.Protocol.Records;

namespace Fjord.Storage.Tests.Log;

/// <summary>
/// Seeded random operation sequences against a real <see cref="PartitionLog"/> and a
/// <see cref="LogModel"/>: appends as leader and follower (random sizes, gaps, epochs), reads at random
/// offsets, bounds and budgets, truncation, log-start moves, retention, small segments that roll
/// often, clean and crash reopens (with torn tails). After every step the log must agree with the
/// model. A failure names the seed and the steps that led to it.
/// </summary>
public sealed class PartitionLogPropertyTests
{
    private const int Sequences = 300;
    private const int StepsPerSequence = 40;

    [Fact]
    public void The_log_behaves_like_a_list_of_batches()
    {
        for (int seed = 1; seed <= Sequences; seed++) RunSequence(seed);
    }

    private static void RunSequence(int seed)
    {
        using var dir = new TempDirectory();
        var run = new SequenceRun(seed, dir);
        try
        {
            run.Run(StepsPerSequence);
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"seed {seed} failed after steps:\n{run.History}\n{e}");
        }
        finally
        {
            run.Dispose();
        }
    }

    private sealed class SequenceRun(int seed, TempDirectory dir) : IDisposable
    {
        private readonly Random _random = new(seed);
        private readonly FakeClock _clock = new();
        private readonly LogModel _model = new();
        private readonly StringBuilder _history = new();
        private LogConfig _config = null!;
        private PartitionLog _log = null!;
        private int _epoch;

        public string History => _history.ToString();

        public void Run(int steps)
        {
            _config = Logs.SmallConfig(segmentBytes: _random.Next(150, 3000), indexIntervalBytes: _random.Next(0, 600));
            _log = Open(new LogOpenOptions());
            for (int step = 0; step < steps; step++)
            {
                int choice = _random.Next(100);
                if (choice < 30) AppendAsLeader();
                else if (choice < 45) AppendAsFollower();
                else if (choice < 70) Read();
                else if (choice < 77) Truncate();
                else if (choice < 82) AdvanceLogStart();
                else if (choice < 86) DeleteOldest();
                else if (choice < 92) Reopen();
                else if (choice < 96) Crash();
                else _clock.Advance(_random.Next(0, 1000));
                try
                {
                    CheckInvariants();
                }
                catch (Exception e)
                {
                    throw new InvalidOperationException($"{_log} with segments [{string.Join(", ", _log.SegmentsSnapshot)}], " +
                        $"model offsets [{_model.LogStartOffset}, {_model.LogEndOffset}) batches [{string.Join(", ", _model.Batches.Select(b => $"{b.BaseOffset}-{b.LastOffset}"))}]", e);
                }
            }
        }

        private PartitionLog Open(LogOpenOptions options) => Logs.Open(dir, _config, _clock, options);

        private byte[] RandomBatches(long firstOffset, int epoch, bool gaps)
        {
            var parts = new List<byte[]>();
            long offset = firstOffset;
            for (int i = _random.Next(1, 4); i > 0; i--)
            {
                if (gaps && parts.Count > 0 && _random.Next(4) == 0) offset += _random.Next(1, 5);
                int count = _random.Next(1, 6);
                parts.Add(Batches.Make(count, offset, timestamp: _random.Next(0, 100_000), valueBytes: _random.Next(0, 150),
                    epoch: epoch, fill: (byte)_random.Next(256), timestampStep: _random.Next(0, 3)));
                offset += count;
            }
            return Batches.Concat([.. parts]);
        }

        private void AppendAsLeader()
        {
            if (_random.Next(5) == 0) _epoch++;
            _epoch = Math.Max(_epoch, _log.LeaderEpochs.LatestEpoch);
            var input = RandomBatches(_random.Next(0, 1000), epoch: -1, gaps: false);
            _history.AppendLine($"leader append {input.Length} bytes in epoch {_epoch} at {_model.LogEndOffset}");
            var expected = input.ToArray();
            RecordBatchRewriter.AssignOffsets(expected, _model.LogEndOffset, _epoch);
            var result = _log.AppendAsLeader(input, _epoch);
            Assert.Equal(_model.LogEndOffset, result.FirstOffset);
            _model.Add(expected);
            Assert.Equal(_model.LogEndOffset - 1, result.LastOffset);
        }

        private void AppendAsFollower()
        {
            if (_random.Next(4) == 0) _epoch++;
            _epoch = Math.Max(_epoch, _log.LeaderEpochs.LatestEpoch);
            long first = _model.LogEndOffset + (_random.Next(5) == 0 ? _random.Next(1, 10) : 0);
            var input = RandomBatches(first, _epoch, gaps: true);
            _history.AppendLine($"follower append {input.Length} bytes in epoch {_epoch} at {first}");
            _log.AppendAsFollower(input);
            _model.Add(input);
        }

        private void Read()
        {
            long offset = _model.LogStartOffset - 2 + _random.NextInt64(_model.LogEndOffset - _model.LogStartOffset + 5);
            int maxBytes = _random.Next(4) == 0 ? int.MaxValue : _random.Next(0, 3000);
            long bound = _random.Next(3) == 0 ? long.MaxValue : _model.LogStartOffset + _random.NextInt64(_model.LogEndOffset - _model.LogStartOffset + 3);
            bool minOneBatch = _random.Next(4) != 0;
            _history.AppendLine($"read {offset} max {maxBytes} bound {bound} minOne {minOneBatch}");
            var expected = _model.ExpectedRead(offset, maxBytes, bound, minOneBatch);
            if (expected is null)
            {
                Assert.Throws<OffsetOutOfRangeException>(() => _log.Read(offset, maxBytes, bound, minOneBatch));
                return;
            }
            var result = _log.Read(offset, maxBytes, bound, minOneBatch);
            var actual = result.ToArray();
            Assert.Equal(expected, actual);
            long previous = -1;
            foreach (var (baseOffset, lastOffset, _) in Batches.Headers(actual))
            {
                Assert.True(baseOffset > previous, "offsets increase");
                Assert.True(lastOffset < Math.Min(bound, _model.LogEndOffset), "never past the bound");
                previous = lastOffset;
            }
        }

        private void Truncate()
        {
            long offset = Math.Max(0, _model.LogStartOffset - 3 + _random.NextInt64(_model.LogEndOffset - _model.LogStartOffset + 6));
            _history.AppendLine($"truncate {offset}");
            var segments = _log.SegmentsSnapshot;
            _log.Truncate(offset);
            if (offset >= _model.LogEndOffset) return;
            if (offset < segments[0].BaseOffset) _model.StartAt(offset);
            else _model.Truncate(offset, segments.Last(s => s.BaseOffset <= offset).BaseOffset);
        }

        private void AdvanceLogStart()
        {
            long offset = _model.LogStartOffset + _random.NextInt64(_model.LogEndOffset - _model.LogStartOffset + 2);
            _history.AppendLine($"advance log start {offset}");
            if (offset > _model.LogEndOffset)
            {
                Assert.Throws<OffsetOutOfRangeException>(() => _log.AdvanceLogStartOffset(offset));
                return;
            }
            Assert.Equal(offset > _model.LogStartOffset, _log.AdvanceLogStartOffset(offset));
            _model.LogStartOffset = Math.Max(_model.LogStartOffset, offset);
        }

        private void DeleteOldest()
        {
            long highWatermark = _model.LogStartOffset + _random.NextInt64(_model.LogEndOffset - _model.LogStartOffset + 1);
            _history.AppendLine($"delete oldest segments below {highWatermark}");
            int deleted = _log.DeleteOldestSegments(_ => _random.Next(3) != 0, highWatermark);
            Assert.True(_log.SegmentsSnapshot[0].BaseOffset <= highWatermark || deleted == 0);
            _model.LogStartOffset = Math.Max(_model.LogStartOffset, _log.SegmentsSnapshot[0].BaseOffset);
        }

        private void Reopen()
        {
            bool clean = _random.Next(2) == 0;
            _history.AppendLine($"close and reopen (clean marker {clean})");
            long logStart = _log.LogStartOffset;
            _log.Close();
            _log = Open(new LogOpenOptions(RecoveryPoint: _random.NextInt64(_model.LogEndOffset + 1), LogStartOffset: logStart, HadCleanShutdown: clean));
            Assert.Equal(_model.LogEndOffset, _log.LogEndOffset);
        }

        /// <summary>Abandons the log without closing it, optionally tearing its last batch or adding
        /// garbage, and reopens without the clean-shutdown marker.</summary>
        private void Crash()
        {
            long recoveryPoint = _log.RecoveryPoint;
            long logStart = _log.LogStartOffset;
            var active = _log.SegmentsSnapshot[^1];
            int tear = _random.Next(3);
            _history.AppendLine($"crash (tear {tear})");
            _log = null!; // abandoned: never closed, its unflushed state is whatever the files hold
            var path = active.LogPath;
            if (tear == 1 && _model.Batches.Count > 0 && new FileInfo(path).Length > 0 && _model.Batches[^1].BaseOffset >= active.BaseOffset)
            {
                var last = _model.Batches[^1];
                using (var stream = new FileStream(path, FileMode.Open)) stream.SetLength(stream.Length - _random.Next(1, last.Bytes.Length));
                _model.Batches.RemoveAt(_model.Batches.Count - 1);
                _model.LogEndOffset = Math.Max(active.BaseOffset, _model.Batches.Count > 0 ? _model.Batches[^1].LastOffset + 1 : active.BaseOffset);
                _model.LogStartOffset = Math.Min(_model.LogStartOffset, _model.LogEndOffset);
                recoveryPoint = Math.Min(recoveryPoint, _model.LogEndOffset);
            }
            else if (tear == 2)
            {
                var garbage = new byte[_random.Next(1, 100)];
                _random.NextBytes(garbage);
                using var stream = new FileStream(path, FileMode.Append);
                stream.Write(garbage);
            }
            _log = Open(new LogOpenOptions(RecoveryPoint: recoveryPoint, LogStartOffset: Math.Min(logStart, _model.LogEndOffset)));
            Assert.Equal(_model.LogEndOffset, _log.LogEndOffset);
        }

        private void CheckInvariants()
        {
            Assert.Equal(_model.LogEndOffset, _log.LogEndOffset);
            Assert.Equal(_model.LogStartOffset, _log.LogStartOffset);
            Assert.InRange(_log.RecoveryPoint, 0, _log.LogEndOffset);
            var segments = _log.SegmentsSnapshot;
            for (int i = 1; i < segments.Count; i++)
            {
                Assert.True(segments[i - 1].BaseOffset < segments[i].BaseOffset, "segment base offsets increase");
                Assert.True(segments[i - 1].NextOffset <= segments[i].BaseOffset, "segments do not overlap");
            }
            Assert.Equal(segments.Sum(s => (long)s.Size), _log.SizeInBytes);

            var entries = _log.LeaderEpochs.Entries;
            for (int i = 1; i < entries.Count; i++)
                Assert.True(entries[i - 1].Epoch < entries[i].Epoch && entries[i - 1].StartOffset < entries[i].StartOffset, "epoch cache is monotonic");
            Assert.True(entries.Count == 0 || entries[^1].StartOffset <= _log.LogEndOffset, "no epoch starts past the log end");
            foreach (var batch in _model.Batches)
            {
                if (batch.BaseOffset >= _model.LogStartOffset && batch.Epoch >= 0)
                    Assert.Equal(batch.Epoch, _log.LeaderEpochs.EpochForOffset(batch.BaseOffset));
            }

            var expected = _model.ExpectedRead(_model.LogStartOffset, int.MaxValue, long.MaxValue, true)!;
            Assert.Equal(expected, _log.Read(_model.LogStartOffset, int.MaxValue, long.MaxValue).ToArray());
        }

        public void Dispose() => _log?.Close();
    }
}
