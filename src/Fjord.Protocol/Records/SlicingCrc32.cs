using System.Buffers.Binary;

namespace Fjord.Protocol.Records;

/// <summary>
/// Table-driven reflected CRC-32 with slicing-by-8 (eight bytes per step through eight 256-entry
/// tables). One instance per polynomial; immutable after construction, so thread-safe.
/// <see cref="Update"/> works on the raw register (no pre/post inversion): callers invert.
/// </summary>
internal sealed class SlicingCrc32
{
    private readonly uint[] _table; // 8 × 256 entries, table k at [k*256, k*256+256)

    public SlicingCrc32(uint reflectedPolynomial)
    {
        _table = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            uint crc = i;
            for (int bit = 0; bit < 8; bit++)
                crc = (crc & 1) != 0 ? (crc >> 1) ^ reflectedPolynomial : crc >> 1;
            _table[i] = crc;
        }
        for (int k = 1; k < 8; k++)
            for (int i = 0; i < 256; i++)
            {
                uint previous = _table[(k - 1) * 256 + i];
                _table[k * 256 + i] = (previous >> 8) ^ _table[previous & 0xFF];
            }
    }

    public uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        ReadOnlySpan<uint> t = _table;
        while (data.Length >= 8)
        {
            uint low = crc ^ BinaryPrimitives.ReadUInt32LittleEndian(data);
            uint high = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            crc = t[7 * 256 + (int)(low & 0xFF)] ^ t[6 * 256 + (int)((low >> 8) & 0xFF)] ^
                  t[5 * 256 + (int)((low >> 16) & 0xFF)] ^ t[4 * 256 + (int)(low >> 24)] ^
                  t[3 * 256 + (int)(high & 0xFF)] ^ t[2 * 256 + (int)((high >> 8) & 0xFF)] ^
                  t[256 + (int)((high >> 16) & 0xFF)] ^ t[(int)(high >> 24)];
            data = data[8..];
        }
        foreach (byte b in data)
            crc = (crc >> 8) ^ t[(int)((crc ^ b) & 0xFF)];
        return crc;
    }
}
