using Fjord.Protocol;
using Fjord.Protocol.Messages;

namespace Fjord.Broker.Groups.Consumer;

/// <summary>
/// One record of the <c>__consumer_offsets</c> log written by the consumer (KIP-848) group
/// coordinator: a key and a value (null for a tombstone), as Kafka writes them. On disk the key is
/// <c>int16 record type</c> + the key fields and the value is <c>int16 value version (0)</c> + the
/// value fields (<see cref="KeyBytes"/>, <see cref="ValueBytes"/>, <see cref="TryParse"/>).
/// </summary>
/// <remarks>Record types: 3 group metadata, 4 partition metadata, 5 member metadata,
/// 6 target assignment metadata, 7 target assignment member, 8 current member assignment.</remarks>
public sealed class ConsumerGroupRecord
{
    public const short GroupMetadataType = 3;
    public const short PartitionMetadataType = 4;
    public const short MemberMetadataType = 5;
    public const short TargetAssignmentMetadataType = 6;
    public const short TargetAssignmentMemberType = 7;
    public const short CurrentMemberAssignmentType = 8;

    /// <summary>The only value version Fjord writes (and reads) for these types.</summary>
    public const short ValueVersion = 0;

    private ConsumerGroupRecord(short type, IKafkaMessage key, IKafkaMessage? value)
    {
        Type = type;
        Key = key;
        Value = value;
    }

    /// <summary>The record type (also the key version on disk).</summary>
    public short Type { get; }

    /// <summary>One of the <c>ConsumerGroup*Key</c> messages.</summary>
    public IKafkaMessage Key { get; }

    /// <summary>The matching <c>ConsumerGroup*Value</c> message, or null for a tombstone.</summary>
    public IKafkaMessage? Value { get; }

    public bool IsTombstone => Value is null;

    /// <summary>The group the record belongs to.</summary>
    public string GroupId => Key switch
    {
        ConsumerGroupMetadataKey k => k.GroupId,
        ConsumerGroupPartitionMetadataKey k => k.GroupId,
        ConsumerGroupMemberMetadataKey k => k.GroupId,
        ConsumerGroupTargetAssignmentMetadataKey k => k.GroupId,
        ConsumerGroupTargetAssignmentMemberKey k => k.GroupId,
        ConsumerGroupCurrentMemberAssignmentKey k => k.GroupId,
        _ => throw new InvalidOperationException("unknown key"),
    };

    public static ConsumerGroupRecord GroupMetadata(string groupId, ConsumerGroupMetadataValue? value) =>
        new(GroupMetadataType, new ConsumerGroupMetadataKey { GroupId = groupId }, value);

    public static ConsumerGroupRecord PartitionMetadata(string groupId, ConsumerGroupPartitionMetadataValue? value) =>
        new(PartitionMetadataType, new ConsumerGroupPartitionMetadataKey { GroupId = groupId }, value);

    public static ConsumerGroupRecord MemberMetadata(string groupId, string memberId, ConsumerGroupMemberMetadataValue? value) =>
        new(MemberMetadataType, new ConsumerGroupMemberMetadataKey { GroupId = groupId, MemberId = memberId }, value);

    public static ConsumerGroupRecord TargetAssignmentMetadata(string groupId, ConsumerGroupTargetAssignmentMetadataValue? value) =>
        new(TargetAssignmentMetadataType, new ConsumerGroupTargetAssignmentMetadataKey { GroupId = groupId }, value);

    public static ConsumerGroupRecord TargetAssignmentMember(string groupId, string memberId, ConsumerGroupTargetAssignmentMemberValue? value) =>
        new(TargetAssignmentMemberType, new ConsumerGroupTargetAssignmentMemberKey { GroupId = groupId, MemberId = memberId }, value);

    public static ConsumerGroupRecord CurrentMemberAssignment(string groupId, string memberId, ConsumerGroupCurrentMemberAssignmentValue? value) =>
        new(CurrentMemberAssignmentType, new ConsumerGroupCurrentMemberAssignmentKey { GroupId = groupId, MemberId = memberId }, value);

    /// <summary>The key as stored: int16 type, then the key fields.</summary>
    public byte[] KeyBytes() => Encode(Key, Type);

    /// <summary>The value as stored: int16 version 0, then the value fields; null for a tombstone.</summary>
    public byte[]? ValueBytes() => Value is null ? null : Encode(Value, ValueVersion);

    /// <summary>True when <paramref name="key"/> starts with a record type this class owns (3..8).</summary>
    public static bool IsConsumerGroupKey(ReadOnlySpan<byte> key) =>
        key.Length >= 2 && (short)(key[0] << 8 | key[1]) is >= GroupMetadataType and <= CurrentMemberAssignmentType;

    /// <summary>Decodes a stored key/value; <paramref name="value"/> null is a tombstone.</summary>
    public static bool TryParse(byte[] key, byte[]? value, out ConsumerGroupRecord? record, out string? error) =>
        TryParse(key.AsMemory(), value is null ? (ReadOnlyMemory<byte>?)null : value.AsMemory(), out record, out error);

    /// <summary>
    /// Decodes a stored key/value (<paramref name="value"/> null is a tombstone: beware that a null
    /// <c>byte[]</c> converts implicitly to an empty, non-null memory; use the <c>byte[]</c> overload). False (with a reason) for another record type, an unknown value
    /// version or malformed bytes; never throws on bad input.
    /// </summary>
    public static bool TryParse(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte>? value, out ConsumerGroupRecord? record, out string? error)
    {
        record = null;
        error = null;
        try
        {
            var kr = new KafkaReader(key);
            short type = kr.ReadInt16("key version");
            IKafkaMessage k = type switch
            {
                GroupMetadataType => ConsumerGroupMetadataKey.Read(ref kr, type),
                PartitionMetadataType => ConsumerGroupPartitionMetadataKey.Read(ref kr, type),
                MemberMetadataType => ConsumerGroupMemberMetadataKey.Read(ref kr, type),
                TargetAssignmentMetadataType => ConsumerGroupTargetAssignmentMetadataKey.Read(ref kr, type),
                TargetAssignmentMemberType => ConsumerGroupTargetAssignmentMemberKey.Read(ref kr, type),
                CurrentMemberAssignmentType => ConsumerGroupCurrentMemberAssignmentKey.Read(ref kr, type),
                _ => throw new FormatException($"record type {type} is not a consumer group record"),
            };
            if (!kr.IsAtEnd) throw new FormatException($"{kr.Remaining} trailing bytes in a type {type} key");
            IKafkaMessage? v = null;
            if (value is { } valueBytes)
            {
                var vr = new KafkaReader(valueBytes);
                short version = vr.ReadInt16("value version");
                if (version != ValueVersion) throw new FormatException($"unsupported value version {version} for record type {type}");
                v = type switch
                {
                    GroupMetadataType => ConsumerGroupMetadataValue.Read(ref vr, version),
                    PartitionMetadataType => ConsumerGroupPartitionMetadataValue.Read(ref vr, version),
                    MemberMetadataType => ConsumerGroupMemberMetadataValue.Read(ref vr, version),
                    TargetAssignmentMetadataType => ConsumerGroupTargetAssignmentMetadataValue.Read(ref vr, version),
                    TargetAssignmentMemberType => ConsumerGroupTargetAssignmentMemberValue.Read(ref vr, version),
                    _ => ConsumerGroupCurrentMemberAssignmentValue.Read(ref vr, version),
                };
            }
            record = new ConsumerGroupRecord(type, k, v);
            return true;
        }
        catch (Exception e) when (e is ProtocolDecodeException or FormatException or ArgumentException or InvalidOperationException or OverflowException)
        {
            error = e.Message;
            return false;
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

    public override string ToString() => $"{Key}{(Value is null ? " => <tombstone>" : " => " + Value)}";
}
