using Fjord.Broker.Coordinator;
using Fjord.Protocol;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Groups;

/// <summary>A committed offset of one partition.</summary>
/// <param name="ExpireTimestamp">Explicit expiry (OffsetCommit v2-4 retention), or null.</param>
public sealed record CommittedOffset(long Offset, int LeaderEpoch, string Metadata, long CommitTimestamp, long? ExpireTimestamp);

/// <summary>
/// The classic coordinator's records of <c>__consumer_offsets</c>, in Kafka's format: key = int16
/// key version + key (0/1 <see cref="OffsetCommitKey"/>, 2 <see cref="GroupMetadataKey"/>); value =
/// int16 value version + value, or null. Writes OffsetCommitValue v3 (v1 with an expire timestamp)
/// and GroupMetadataValue v3; reads OffsetCommitValue v0-4 and GroupMetadataValue v0-4.
/// Key versions 3 and above belong to the consumer (KIP-848) protocol.
/// </summary>
public static class GroupRecords
{
    public const short OffsetCommitKeyVersion = 1;
    public const short GroupMetadataKeyVersion = 2;
    public const short GroupMetadataValueVersion = 3;

    public static CoordinatorRecord Offset(string group, string topic, int partition, CommittedOffset? offset)
    {
        var key = Encode(new OffsetCommitKey { Group = group, Topic = topic, Partition = partition }, OffsetCommitKeyVersion);
        if (offset is null) return new CoordinatorRecord(key, null);
        // v1 is the only value version with an explicit expiry, and it has no leader epoch (Kafka writes
        // v1 for such commits, dropping the epoch); everything else is v3.
        short version = offset.ExpireTimestamp is null ? (short)3 : (short)1;
        var value = new OffsetCommitValue
        {
            Offset = offset.Offset,
            LeaderEpoch = version == 1 ? -1 : offset.LeaderEpoch,
            Metadata = offset.Metadata,
            CommitTimestamp = offset.CommitTimestamp,
            ExpireTimestamp = offset.ExpireTimestamp ?? -1,
        };
        return new CoordinatorRecord(key, Encode(value, version));
    }

    public static CoordinatorRecord Group(string group, GroupMetadataValue? value) =>
        new(Encode(new GroupMetadataKey { Group = group }, GroupMetadataKeyVersion), value is null ? null : Encode(value, GroupMetadataValueVersion));

    /// <summary>The key version (record type) of a key; <see cref="FormatException"/> when shorter than 2 bytes.</summary>
    public static short KeyVersion(ReadOnlySpan<byte> key) =>
        key.Length < 2 ? throw new FormatException("record key shorter than its version") : (short)((key[0] << 8) | key[1]);

    public static OffsetCommitKey ReadOffsetKey(ReadOnlyMemory<byte> key) => Decode(key, 0, 1, OffsetCommitKey.Read);

    public static GroupMetadataKey ReadGroupKey(ReadOnlyMemory<byte> key) => Decode(key, 2, 2, GroupMetadataKey.Read);

    public static CommittedOffset ReadOffsetValue(ReadOnlyMemory<byte> value)
    {
        var v = Decode(value, 0, 4, OffsetCommitValue.Read, out short version);
        long? expire = version == 1 && v.ExpireTimestamp >= 0 ? v.ExpireTimestamp : null;
        return new CommittedOffset(v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp, expire);
    }

    public static GroupMetadataValue ReadGroupValue(ReadOnlyMemory<byte> value) => Decode(value, 0, 4, GroupMetadataValue.Read, out _);

    private delegate T Reader<T>(ref KafkaReader reader, short version);

    private static T Decode<T>(ReadOnlyMemory<byte> bytes, short min, short max, Reader<T> read) => Decode(bytes, min, max, read, out _);

    private static T Decode<T>(ReadOnlyMemory<byte> bytes, short min, short max, Reader<T> read, out short version)
    {
        try
        {
            var r = new KafkaReader(bytes);
            version = r.ReadInt16("version");
            if (version < min || version > max) throw new FormatException($"{typeof(T).Name} version {version} is not in {min}-{max}");
            var message = read(ref r, version);
            return message;
        }
        catch (Exception e) when (e is ProtocolDecodeException or ArgumentException or InvalidOperationException or OverflowException or IndexOutOfRangeException)
        {
            throw new FormatException($"bad {typeof(T).Name}: {e.Message}", e);
        }
    }

    private static byte[] Encode(IKafkaMessage message, short version)
    {
        var bytes = new byte[2 + message.ComputeSize(version)];
        var w = new KafkaWriter(bytes);
        w.WriteInt16(version);
        message.Write(ref w, version);
        return bytes;
    }
}
