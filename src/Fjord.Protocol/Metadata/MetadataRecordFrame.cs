namespace Fjord.Protocol.Metadata;

/// <summary>A metadata record with the version it was (or is to be) encoded at — Kafka's
/// <c>ApiMessageAndVersion</c>.</summary>
public readonly record struct MetadataRecord(IKafkaMessage Message, short Version)
{
    /// <summary>The record type id (the schema's <c>key=</c>).</summary>
    public short RecordType => Message.MessageApiKey;

    public override string ToString() => $"{Message.MessageSchema.Name} v{Version}";
}

/// <summary>
/// The frame a metadata record travels in inside the value of a <c>__cluster_metadata</c> record
/// (and of a snapshot's data records), as Kafka's <c>AbstractApiMessageSerde</c> writes it:
/// unsigned varint frame version (always 1), unsigned varint record type, unsigned varint record
/// version, then the record body at that version (every metadata record is flexible, so the body
/// ends with its tagged fields).
/// </summary>
/// <remarks>
/// Reading is strict, as Kafka's is: frame version 0 (the 2.8 preview format) and any other
/// version than 1 are refused, as are a type or version above 32767, an unknown record type, a
/// version outside the type's range and bytes left after the body. Every refusal is a
/// <see cref="ProtocolDecodeException"/> whose field names the part that was wrong.
/// Stateless and thread-safe.
/// </remarks>
public static class MetadataRecordFrame
{
    /// <summary>The only frame version Kafka writes and accepts.</summary>
    public const byte FrameVersion = 1;

    public const string FrameVersionField = "MetadataRecord.FrameVersion";
    public const string RecordTypeField = "MetadataRecord.RecordType";
    public const string RecordVersionField = "MetadataRecord.RecordVersion";
    public const string BodyField = "MetadataRecord.Body";

    /// <summary>The framed size of <paramref name="record"/> at <paramref name="version"/>.</summary>
    public static int ComputeSize(IKafkaMessage record, short version)
    {
        CheckWritable(record, version);
        return WireSize.UnsignedVarint(FrameVersion)
            + WireSize.UnsignedVarint((uint)record.MessageApiKey)
            + WireSize.UnsignedVarint((uint)version)
            + record.ComputeSize(version);
    }

    /// <summary>Writes the frame and the body of <paramref name="record"/>.</summary>
    public static void Write(ref KafkaWriter writer, IKafkaMessage record, short version)
    {
        CheckWritable(record, version);
        writer.WriteUnsignedVarint(FrameVersion);
        writer.WriteUnsignedVarint((uint)record.MessageApiKey);
        writer.WriteUnsignedVarint((uint)version);
        record.Write(ref writer, version);
    }

    /// <summary>Encodes <paramref name="record"/> into a new array of exactly its framed size.</summary>
    public static byte[] Encode(IKafkaMessage record, short version)
    {
        var buffer = new byte[ComputeSize(record, version)];
        var writer = new KafkaWriter(buffer);
        Write(ref writer, record, version);
        if (writer.Position != buffer.Length)
            throw new InvalidOperationException($"{record.MessageSchema.Name} v{version}: wrote {writer.Position} bytes but computed {buffer.Length}");
        return buffer;
    }

    public static byte[] Encode(MetadataRecord record) => Encode(record.Message, record.Version);

    /// <summary>Decodes one whole record value: frame, body, nothing after it.</summary>
    public static MetadataRecord Decode(ReadOnlyMemory<byte> value)
    {
        var reader = new KafkaReader(value);
        uint frameVersion = reader.ReadUnsignedVarint(FrameVersionField);
        if (frameVersion == 0)
            throw new ProtocolDecodeException(FrameVersionField, "frame version 0 is the Kafka 2.8 preview format, which is not supported");
        if (frameVersion != FrameVersion)
            throw new ProtocolDecodeException(FrameVersionField, $"unknown frame version {frameVersion} (only {FrameVersion} is supported)");

        uint recordType = reader.ReadUnsignedVarint(RecordTypeField);
        if (recordType > short.MaxValue)
            throw new ProtocolDecodeException(RecordTypeField, $"record type {recordType} is above {short.MaxValue}");
        uint recordVersion = reader.ReadUnsignedVarint(RecordVersionField);
        if (recordVersion > short.MaxValue)
            throw new ProtocolDecodeException(RecordVersionField, $"record version {recordVersion} is above {short.MaxValue}");

        var type = MetadataRecordTypes.Find((short)recordType)
            ?? throw new ProtocolDecodeException(RecordTypeField, $"unknown metadata record type {recordType}");
        var range = type.Schema.Versions;
        if (!range.Contains((short)recordVersion))
            throw new ProtocolDecodeException(RecordVersionField,
                $"{type.Schema.Name} has no version {recordVersion} (supported: {range})");

        var message = type.Read(ref reader, (short)recordVersion);
        if (!reader.IsAtEnd)
            throw new ProtocolDecodeException(BodyField,
                $"{reader.Remaining} unexpected bytes after the end of {type.Schema.Name} v{recordVersion}");
        return new MetadataRecord(message, (short)recordVersion);
    }

    /// <summary>Decodes a record expected to be a <typeparamref name="T"/>; any other type is an error.</summary>
    public static T Decode<T>(ReadOnlyMemory<byte> value, out short version) where T : IKafkaMessage<T>
    {
        var record = Decode(value);
        if (record.Message is not T typed)
            throw new ProtocolDecodeException(RecordTypeField,
                $"expected a {typeof(T).Name} but found {record.Message.MessageSchema.Name} (type {record.RecordType})");
        version = record.Version;
        return typed;
    }

    private static void CheckWritable(IKafkaMessage record, short version)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.MessageSchema.Kind != MessageKind.Metadata)
            throw new ArgumentException($"{record.MessageSchema.Name} is not a metadata record", nameof(record));
        if (version < 0)
            throw new ProtocolEncodeException($"{record.MessageSchema.Name}: negative record version {version}");
    }
}
