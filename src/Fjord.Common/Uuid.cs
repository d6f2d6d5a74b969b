using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Fjord.Common;

/// <summary>
/// Kafka's 128-bit identifier (topic ids, cluster ids, directory ids, incarnation ids).
/// Printed, as Kafka prints it, in URL-safe base64 without padding (22 characters).
/// </summary>
public readonly record struct Uuid(long MostSignificantBits, long LeastSignificantBits)
{
    /// <summary>The all-zero id; on the wire it means "no id".</summary>
    public static readonly Uuid Zero = new(0, 0);

    /// <summary>Kafka reserves the id with only the lowest bit set ("metadata topic id").</summary>
    public static readonly Uuid OneUuid = new(0, 1);

    public bool IsZero => MostSignificantBits == 0 && LeastSignificantBits == 0;

    /// <summary>A random version-4 id. Kafka never hands out ids whose base64 form starts with '-'
    /// (they confuse command-line tools), nor the reserved ids; neither do we.</summary>
    public static Uuid NewRandom()
    {
        Span<byte> bytes = stackalloc byte[16];
        while (true)
        {
            RandomNumberGenerator.Fill(bytes);
            bytes[6] = (byte)((bytes[6] & 0x0f) | 0x40);
            bytes[8] = (byte)((bytes[8] & 0x3f) | 0x80);
            var id = FromBytes(bytes);
            if (!id.IsZero && id != OneUuid && !id.ToString().StartsWith('-'))
                return id;
        }
    }

    public static Uuid FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != 16) throw new ArgumentException("a Uuid is 16 bytes", nameof(bytes));
        return new Uuid(BinaryPrimitives.ReadInt64BigEndian(bytes), BinaryPrimitives.ReadInt64BigEndian(bytes[8..]));
    }

    public void WriteBytes(Span<byte> destination)
    {
        BinaryPrimitives.WriteInt64BigEndian(destination, MostSignificantBits);
        BinaryPrimitives.WriteInt64BigEndian(destination[8..], LeastSignificantBits);
    }

    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[16];
        WriteBytes(bytes);
        return Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    /// <summary>Parses the 22-character URL-safe base64 form.</summary>
    public static Uuid Parse(string text)
    {
        if (!TryParse(text, out var id))
            throw new FormatException($"'{text}' is not a Kafka Uuid (22 characters of URL-safe base64)");
        return id;
    }

    public static bool TryParse(string? text, out Uuid id)
    {
        id = Zero;
        if (text is null || text.Length != 22) return false;
        var b64 = text.Replace('-', '+').Replace('_', '/') + "==";
        Span<byte> bytes = stackalloc byte[18];
        if (!Convert.TryFromBase64String(b64, bytes, out var written) || written != 16) return false;
        id = FromBytes(bytes[..16]);
        return true;
    }
}
