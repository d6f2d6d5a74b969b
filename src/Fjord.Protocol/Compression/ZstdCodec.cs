using System.Buffers;
using System.Numerics;

namespace Fjord.Protocol.Compression;

/// <summary>
/// Codec 4: zstd through libzstd. Compression is one-shot (frames carry their content size);
/// decompression is streaming because client frames (zstd-jni, librdkafka streaming) often omit
/// the content size. Several frames back to back decode to their concatenation. Contexts are kept
/// one per thread so steady-state work allocates no native memory.
/// </summary>
public sealed class ZstdCodec(int level = ZstdCodec.DefaultLevel) : ICompressionCodec
{
    public const int DefaultLevel = 3;
    private const int MinChunkBytes = 64 * 1024;

    [ThreadStatic] private static ZstdCompressionContext? t_compressor;
    [ThreadStatic] private static ZstdDecompressionContext? t_decompressor;

    public CompressionType Type => CompressionType.Zstd;
    public string Name => "zstd";

    /// <summary>True when libzstd could be loaded.</summary>
    public static bool IsAvailable => ZstdNative.IsAvailable;

    public unsafe int Compress(ReadOnlySpan<byte> source, IBufferWriter<byte> destination)
    {
        ZstdNative.EnsureAvailable();
        var context = t_compressor ??= new ZstdCompressionContext();
        int bound = checked((int)ZstdNative.CompressBound((nuint)source.Length));
        var span = destination.GetSpan(bound);
        nuint written;
        fixed (byte* dst = span)
        fixed (byte* src = source)
            written = ZstdNative.CompressCCtx(context.DangerousGetHandle(), dst, (nuint)span.Length, src, (nuint)source.Length, level);
        if (ZstdNative.IsError(written))
            throw new InvalidOperationException($"ZSTD_compressCCtx: {ZstdNative.ErrorName(written)}");
        destination.Advance((int)written);
        return (int)written;
    }

    public unsafe int Decompress(ReadOnlySpan<byte> source, IBufferWriter<byte> destination, int maxOutputBytes)
    {
        if (source.IsEmpty) return 0;
        ZstdNative.EnsureAvailable();
        var context = t_decompressor ??= new ZstdDecompressionContext();
        nint dctx = context.Handle;
        ZstdNative.ResetDCtx(dctx);
        ZstdNative.SetDCtxParameter(dctx, ZstdNative.DecompressionWindowLogParameter, WindowLogLimit(maxOutputBytes));
        int total = 0;
        byte probe = 0;
        fixed (byte* src = source)
        {
            ulong declared = ZstdNative.GetFrameContentSize(src, (nuint)source.Length);
            if (declared == ZstdNative.ContentSizeError) throw Corrupt("not a zstd frame");
            if (declared != ZstdNative.ContentSizeUnknown && declared > (ulong)maxOutputBytes)
                throw Corrupt($"frame declares {declared} bytes, past the {maxOutputBytes}-byte limit");
            int chunk = declared != ZstdNative.ContentSizeUnknown
                ? Math.Max(1, (int)declared)
                : Math.Min(maxOutputBytes, Math.Max(MinChunkBytes, source.Length * 4));
            var input = new ZstdNative.InBuffer { Src = src, Size = (nuint)source.Length, Pos = 0 };
            while (true)
            {
                int room = maxOutputBytes - total;
                Span<byte> span = room > 0 ? destination.GetSpan(Math.Min(room, Math.Max(chunk, 1))) : default;
                int size = Math.Min(span.Length, room);
                nuint before = input.Pos;
                nuint result;
                ZstdNative.OutBuffer output;
                fixed (byte* dst = span)
                {
                    output = new ZstdNative.OutBuffer { Dst = size > 0 ? dst : &probe, Size = size > 0 ? (nuint)size : 1, Pos = 0 };
                    result = ZstdNative.DecompressStream(dctx, &output, &input);
                }
                if (ZstdNative.IsError(result))
                {
                    ZstdNative.ResetDCtx(dctx);
                    throw Corrupt(ZstdNative.ErrorName(result));
                }
                if (size == 0 && output.Pos > 0) throw Corrupt($"inflates past the {maxOutputBytes}-byte limit");
                int produced = (int)output.Pos;
                if (produced > 0) destination.Advance(produced);
                total += produced;
                bool inputDone = input.Pos == input.Size;
                if (result == 0 && inputDone) return total;
                if (inputDone && output.Pos < output.Size) throw Corrupt("truncated frame");
                if (produced == 0 && input.Pos == before && output.Pos < output.Size) throw Corrupt("decoder made no progress");
                chunk = Math.Min(Math.Max(chunk, MinChunkBytes) * 2, 1 << 24);
            }
        }
    }

    /// <summary>
    /// The largest window (log2) a frame may ask for. libzstd allocates the declared window before
    /// producing output, so a tiny hostile frame could otherwise make it reserve up to 2 GiB. Windows up
    /// to 8 MiB (what clients use up to level 19 when the size is unknown) are always allowed; larger
    /// ones only when the caller's limit is that large; never more than 128 MiB.
    /// </summary>
    internal static int WindowLogLimit(int maxOutputBytes)
    {
        int needed = maxOutputBytes <= 1 ? 0 : BitOperations.Log2((uint)maxOutputBytes - 1) + 1;
        return Math.Clamp(needed, MinWindowLog, ZstdNative.MaxWindowLog);
    }

    private const int MinWindowLog = 23;

    private ProtocolDecodeException Corrupt(string problem) => new(Name, problem);
}
