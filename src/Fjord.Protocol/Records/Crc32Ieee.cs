namespace Fjord.Protocol.Records;

/// <summary>
/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib computes it): the checksum of
/// legacy (magic 0 and 1) messages. Table-driven slicing-by-8; values are finished CRCs and
/// <c>Compute("123456789") == 0xCBF43926</c>.
/// </summary>
public static class Crc32Ieee
{
    private static readonly SlicingCrc32 Table = new(0xEDB88320u);

    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    public static uint Append(uint crc, ReadOnlySpan<byte> data) => ~Table.Update(~crc, data);
}
