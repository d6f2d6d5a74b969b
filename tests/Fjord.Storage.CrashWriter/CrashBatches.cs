using System.Buffers.Binary;
using Fjord.Protocol.Records;

namespace Fjord.Storage.CrashWriter;

/// <summary>The batches the crash writer appends: batch <c>sequence</c> is fully determined by its
/// number, so a test can check any recovered batch byte for byte.</summary>
public static class CrashBatches
{
    public static int RecordCount(int sequence) => 1 + sequence % 7;

    public static byte[] Value(int sequence, int index)
    {
        var value = new byte[100 + (sequence * 31 + index * 17) % 400];
        for (int i = 0; i < value.Length; i++) value[i] = (byte)(sequence * 7 + index * 13 + i);
        return value;
    }

    public static byte[] Key(int sequence, int index)
    {
        var key = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(key, sequence);
        BinaryPrimitives.WriteInt32BigEndian(key.AsSpan(4), index);
        return key;
    }

    public static byte[] Build(int sequence)
    {
        using var builder = new RecordBatchBuilder(new RecordBatchOptions());
        for (int i = 0; i < RecordCount(sequence); i++)
            builder.Append(1_700_000_000_000 + sequence, Key(sequence, i), Value(sequence, i));
        return builder.ToArray();
    }
}
