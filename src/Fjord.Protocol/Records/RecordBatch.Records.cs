using Fjord.Protocol.Compression;

namespace Fjord.Protocol.Records;

public readonly partial struct RecordBatch
{
    /// <summary>
    /// Checks what can be checked without decoding records: the length matches the bytes, magic is 2,
    /// the CRC matches, the codec is known, and the record count is non-negative and (uncompressed)
    /// fits the bytes. Throws <see cref="ProtocolDecodeException"/> naming the field.
    /// </summary>
    public void Validate()
    {
        ValidateStructure();
        uint stored = Crc, computed = ComputeCrc();
        if (stored != computed)
            throw new ProtocolDecodeException("RecordBatch.Crc", $"stored 0x{stored:X8} but computed 0x{computed:X8}");
    }

    /// <summary><see cref="Validate"/> without the CRC (for callers that checked it elsewhere).</summary>
    public void ValidateStructure()
    {
        int batchLength = BatchLength;
        if (batchLength < RecordBatchLayout.MinBatchLength)
            throw new ProtocolDecodeException("RecordBatch.BatchLength", $"{batchLength} is below the {RecordBatchLayout.MinBatchLength}-byte minimum");
        if ((long)batchLength + RecordBatchLayout.LogOverhead != Bytes.Length)
            throw new ProtocolDecodeException("RecordBatch.BatchLength", $"{batchLength} does not match the {Bytes.Length - RecordBatchLayout.LogOverhead} bytes present");
        if (Magic != RecordBatchLayout.CurrentMagic)
            throw new ProtocolDecodeException("RecordBatch.Magic", $"magic {Magic} is not 2");
        if (!CompressionCodecs.TryGet((int)Compression, out _))
            throw new ProtocolDecodeException("RecordBatch.Attributes", $"unknown compression codec id {(int)Compression}");
        int count = RecordCount;
        if (count < 0)
            throw new ProtocolDecodeException("RecordBatch.RecordsCount", $"negative record count {count}");
        if (Compression == CompressionType.None && count > RecordsPayload.Length / RecordBatchLayout.MinRecordSize)
            throw new ProtocolDecodeException("RecordBatch.RecordsCount", $"{count} records cannot fit in {RecordsPayload.Length} bytes");
    }

    /// <summary>
    /// The batch's records, ready to enumerate. Uncompressed batches are read in place (nothing is
    /// allocated); compressed ones are inflated into a pooled buffer of at most
    /// <paramref name="maxDecompressedBytes"/> bytes, released by disposing the result.
    /// Checks the structure (not the CRC) first.
    /// </summary>
    public BatchRecords OpenRecords(int maxDecompressedBytes)
    {
        ValidateStructure();
        var context = new RecordContext(BaseOffset, BaseTimestamp, MaxTimestamp, TimestampType == TimestampType.LogAppendTime);
        int count = RecordCount;
        if (Compression == CompressionType.None)
            return new BatchRecords(RecordsPayload, count, context, owner: null);

        var codec = CompressionCodecs.Get(Compression);
        var writer = CompressionCodecs.DecompressToPooled(codec, RecordsPayload.Span, maxDecompressedBytes);
        if (count > writer.WrittenCount / RecordBatchLayout.MinRecordSize)
        {
            writer.Dispose();
            throw new ProtocolDecodeException("RecordBatch.RecordsCount", $"{count} records cannot fit in {writer.WrittenCount} decompressed bytes");
        }
        var owner = new PooledRecordBuffer(writer);
        return new BatchRecords(owner.Memory, count, context, owner);
    }
}
