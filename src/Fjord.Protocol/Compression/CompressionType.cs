namespace Fjord.Protocol.Compression;

/// <summary>
/// The codec ids carried in bits 0-2 of a record batch's attributes (and of a legacy message's
/// attributes). Values 5-7 are unassigned and are refused by every decoder.
/// </summary>
public enum CompressionType : byte
{
    None = 0,
    Gzip = 1,
    Snappy = 2,
    Lz4 = 3,
    Zstd = 4,
}
