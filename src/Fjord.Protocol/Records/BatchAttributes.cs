using Fjord.Protocol.Compression;

namespace Fjord.Protocol.Records;

/// <summary>How a record's timestamp was assigned. Legacy magic 0 messages have none.</summary>
public enum TimestampType : sbyte
{
    NoTimestampType = -1,
    CreateTime = 0,
    LogAppendTime = 1,
}

/// <summary>
/// The int16 attributes of a v2 batch: compression in bits 0-2, timestamp type bit 3,
/// transactional bit 4, control bit 5, hasDeleteHorizonMs bit 6. Other bits are kept as read.
/// </summary>
public readonly record struct BatchAttributes(short Value)
{
    public const short CompressionMask = 0x07;
    public const short TimestampTypeMask = 0x08;
    public const short TransactionalMask = 0x10;
    public const short ControlMask = 0x20;
    public const short DeleteHorizonMask = 0x40;

    public CompressionType Compression => (CompressionType)(Value & CompressionMask);
    public TimestampType TimestampType => (Value & TimestampTypeMask) != 0 ? TimestampType.LogAppendTime : TimestampType.CreateTime;
    public bool IsTransactional => (Value & TransactionalMask) != 0;
    public bool IsControl => (Value & ControlMask) != 0;
    public bool HasDeleteHorizonMs => (Value & DeleteHorizonMask) != 0;

    public static BatchAttributes Create(CompressionType compression, TimestampType timestampType,
        bool isTransactional, bool isControl, bool hasDeleteHorizonMs = false)
    {
        if ((int)compression > CompressionMask) throw new ArgumentOutOfRangeException(nameof(compression));
        if (timestampType == TimestampType.NoTimestampType)
            throw new ArgumentException("v2 batches need CreateTime or LogAppendTime", nameof(timestampType));
        int value = (int)compression;
        if (timestampType == TimestampType.LogAppendTime) value |= TimestampTypeMask;
        if (isTransactional) value |= TransactionalMask;
        if (isControl) value |= ControlMask;
        if (hasDeleteHorizonMs) value |= DeleteHorizonMask;
        return new BatchAttributes((short)value);
    }

    public BatchAttributes WithTimestampType(TimestampType type) =>
        new((short)(type == TimestampType.LogAppendTime ? Value | TimestampTypeMask : Value & ~TimestampTypeMask));
}
