using System.Buffers.Binary;
using System.Collections.Immutable;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Storage;

namespace Fjord.Broker.Transactions;

/// <summary>One record of <c>__transaction_state</c>: key bytes and value bytes (null: a tombstone).</summary>
public readonly record struct TransactionLogRecord(ReadOnlyMemory<byte> Key, ReadOnlyMemory<byte>? Value);

/// <summary>
/// The records of <c>__transaction_state</c> as Kafka writes them: key = int16 version 0 +
/// <see cref="TransactionLogKey"/>; value = int16 version (0 written; 0 and 1 read) +
/// <see cref="TransactionLogValue"/>, or null when the transactional id was removed.
/// </summary>
public static class TransactionLog
{
    /// <summary>The internal topic.</summary>
    public const string TopicName = "__transaction_state";

    /// <summary>The value version written (v1 is only written by Kafka for transaction version 2 clients).</summary>
    public const short ValueVersion = 0;

    /// <summary>Kafka's <c>Utils.abs(String.hashCode())</c> modulo <paramref name="partitions"/>: the partition of a key.</summary>
    public static int PartitionFor(string key, int partitions)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (partitions <= 0) throw new ArgumentOutOfRangeException(nameof(partitions));
        int h = JavaHashCode(key);
        int abs = h == int.MinValue ? 0 : Math.Abs(h);
        return abs % partitions;
    }

    /// <summary>Java's <c>String.hashCode</c> (over UTF-16 code units, as C# strings are).</summary>
    public static int JavaHashCode(string s)
    {
        int h = 0;
        foreach (char c in s) h = unchecked(31 * h + c);
        return h;
    }

    public static byte[] KeyBytes(string transactionalId) => WithVersion(0, new TransactionLogKey { TransactionalId = transactionalId });

    /// <summary>The value of a state; <see cref="TransactionState.Dead"/> is a tombstone (null).</summary>
    public static byte[]? ValueBytes(TransactionMetadata m)
    {
        if (m.State == TransactionState.Dead) return null;
        if (m.State == TransactionState.PrepareEpochFence) throw new InvalidOperationException("PrepareEpochFence is never persisted");
        var value = new TransactionLogValue
        {
            ProducerId = m.ProducerId,
            ProducerEpoch = m.ProducerEpoch,
            TransactionTimeoutMs = m.TimeoutMs,
            TransactionStatus = (sbyte)m.State,
            TransactionLastUpdateTimestampMs = m.LastUpdateTimestampMs,
            TransactionStartTimestampMs = m.StartTimestampMs,
            TransactionPartitions = m.State == TransactionState.Empty ? null : GroupByTopic(m.Partitions),
        };
        return WithVersion(ValueVersion, value);
    }

    public static TransactionLogRecord Record(TransactionMetadata m)
    {
        byte[]? value = ValueBytes(m);
        if (value is null) return new TransactionLogRecord(KeyBytes(m.TransactionalId), null);
        return new TransactionLogRecord(KeyBytes(m.TransactionalId), new ReadOnlyMemory<byte>(value));
    }

    private static List<TransactionLogValue.PartitionsSchema> GroupByTopic(ImmutableSortedSet<TopicPartition> partitions)
    {
        var list = new List<TransactionLogValue.PartitionsSchema>();
        foreach (var tp in partitions)
        {
            if (list.Count == 0 || list[^1].Topic != tp.Topic) list.Add(new TransactionLogValue.PartitionsSchema { Topic = tp.Topic });
            list[^1].PartitionIds.Add(tp.Partition);
        }
        return list;
    }

    private static byte[] WithVersion(short version, IKafkaMessage message)
    {
        var body = message.Serialize(version);
        var bytes = new byte[2 + body.Length];
        BinaryPrimitives.WriteInt16BigEndian(bytes, version);
        body.CopyTo(bytes, 2);
        return bytes;
    }

    /// <summary>The transactional id of a key; throws <see cref="ProtocolDecodeException"/> or <see cref="FormatException"/> on bad bytes.</summary>
    public static string ReadKey(ReadOnlyMemory<byte> key)
    {
        if (key.Length < 2) throw new FormatException("transaction log key shorter than its version");
        short version = BinaryPrimitives.ReadInt16BigEndian(key.Span);
        if (version != 0) throw new FormatException($"transaction log key version {version} is unknown");
        return KafkaMessages.Deserialize<TransactionLogKey>(key[2..], 0).TransactionalId;
    }

    /// <summary>The state a value describes (replayed: <see cref="TransactionMetadata.PreviousProducerId"/>
    /// from v1 records, <see cref="TransactionMetadata.LastProducerEpoch"/> -1).</summary>
    public static TransactionMetadata ReadValue(string transactionalId, ReadOnlyMemory<byte> value)
    {
        if (value.Length < 2) throw new FormatException("transaction log value shorter than its version");
        short version = BinaryPrimitives.ReadInt16BigEndian(value.Span);
        if (version is < 0 or > 1) throw new FormatException($"transaction log value version {version} is unknown");
        var v = KafkaMessages.Deserialize<TransactionLogValue>(value[2..], version);
        if (v.TransactionStatus is < 0 or > 7) throw new FormatException($"transaction status {v.TransactionStatus} is unknown");
        var partitions = TransactionMetadata.NoPartitions;
        if (v.TransactionPartitions is { } tps)
        {
            var builder = partitions.ToBuilder();
            foreach (var t in tps)
                foreach (int p in t.PartitionIds) builder.Add(new TopicPartition(t.Topic, p));
            partitions = builder.ToImmutable();
        }
        return new TransactionMetadata(transactionalId, v.ProducerId, version >= 1 ? v.PreviousProducerId : -1, v.ProducerEpoch, -1,
            v.TransactionTimeoutMs, (TransactionState)v.TransactionStatus, partitions, v.TransactionStartTimestampMs, v.TransactionLastUpdateTimestampMs);
    }

    /// <summary>
    /// Replays records in log order into the state they describe: the last value of each key wins,
    /// a tombstone removes the key. Records that cannot be decoded are reported to
    /// <paramref name="onBadRecord"/> and skipped (a corrupt record never stops a load).
    /// </summary>
    public static Dictionary<string, TransactionMetadata> Replay(IEnumerable<TransactionLogRecord> records, Action<string>? onBadRecord = null)
    {
        ArgumentNullException.ThrowIfNull(records);
        var state = new Dictionary<string, TransactionMetadata>(StringComparer.Ordinal);
        foreach (var r in records)
        {
            try
            {
                string id = ReadKey(r.Key);
                if (r.Value is not { } value) state.Remove(id);
                else state[id] = ReadValue(id, value);
            }
            catch (Exception e) when (e is ProtocolDecodeException or FormatException)
            {
                onBadRecord?.Invoke($"skipping an undecodable {TopicName} record: {e.Message}");
            }
        }
        return state;
    }
}
