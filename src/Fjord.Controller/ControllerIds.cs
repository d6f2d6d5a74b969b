using System.Buffers.Binary;
using Fjord.Common;

namespace Fjord.Controller;

/// <summary>Ids the controller draws from its (seedable) random sources.</summary>
internal static class ControllerIds
{
    /// <summary>A random version-4 UUID that is not one of Kafka's reserved ids (zero, one) and
    /// whose base64 form does not start with '-' (Kafka's rule for ids shown on command lines).</summary>
    public static Uuid RandomUuid(Random random)
    {
        Span<byte> bytes = stackalloc byte[16];
        while (true)
        {
            random.NextBytes(bytes);
            bytes[6] = (byte)((bytes[6] & 0x0f) | 0x40);
            bytes[8] = (byte)((bytes[8] & 0x3f) | 0x80);
            var id = new Uuid(BinaryPrimitives.ReadInt64BigEndian(bytes), BinaryPrimitives.ReadInt64BigEndian(bytes[8..]));
            if (!id.IsZero && id != Uuid.OneUuid && !id.ToString().StartsWith('-')) return id;
        }
    }
}
