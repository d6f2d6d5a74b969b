using System.Text;

namespace Fjord.Protocol;

/// <summary>Helpers the generated code uses for tagged fields it does not know.</summary>
public static class TaggedFields
{
    public static int UnknownSize(List<RawTaggedField>? unknown)
    {
        if (unknown is null) return 0;
        int size = 0;
        foreach (var f in unknown)
            size += WireSize.UnsignedVarint((uint)f.Tag) + WireSize.UnsignedVarint((uint)f.Data.Length) + f.Data.Length;
        return size;
    }

    /// <summary>Writes the unknown fields, from <paramref name="index"/> on, whose tag is below
    /// <paramref name="tag"/>, so known and unknown fields go out in ascending tag order.</summary>
    public static void WriteUnknownBefore(ref KafkaWriter writer, List<RawTaggedField>? unknown, ref int index, int tag)
    {
        if (unknown is null) return;
        while (index < unknown.Count && unknown[index].Tag < tag)
        {
            var f = unknown[index++];
            writer.WriteUnsignedVarint((uint)f.Tag);
            writer.WriteUnsignedVarint((uint)f.Data.Length);
            writer.WriteRaw(f.Data);
        }
    }
}

/// <summary>Formats field values for the generated ToString (Kafka's style: name='text', lists in brackets).</summary>
public static class MessageText
{
    public static void Append(StringBuilder sb, object? value)
    {
        switch (value)
        {
            case null: sb.Append("null"); break;
            case string s: sb.Append('\'').Append(s).Append('\''); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case byte[] bytes: sb.Append("bytes(").Append(bytes.Length).Append(')'); break;
            case ReadOnlyMemory<byte> memory: sb.Append("records(").Append(memory.Length).Append(" bytes)"); break;
            case IFormattable f: sb.Append(f.ToString(null, System.Globalization.CultureInfo.InvariantCulture)); break;
            case System.Collections.IEnumerable list:
                sb.Append('[');
                bool first = true;
                foreach (var item in list)
                {
                    if (!first) sb.Append(", ");
                    Append(sb, item);
                    first = false;
                }
                sb.Append(']');
                break;
            default: sb.Append(value); break;
        }
    }
}
