using System.Runtime.InteropServices;

namespace Fjord.Protocol.Compression;

/// <summary>
/// Binds the few libzstd entry points we use (Debian's <c>libzstd.so.1</c>, package libzstd1)
/// through function pointers resolved once. When the library is absent every use throws
/// <see cref="NativeCodecUnavailableException"/>; the process never fails to start because of it.
/// </summary>
internal static unsafe class ZstdNative
{
    public const string Library = "libzstd.so.1";
    public const string DebianPackage = "libzstd1";

    /// <summary>Debian's soname first; the others let a developer machine (macOS, other distros) work too.</summary>
    private static readonly string[] Candidates = [Library, "libzstd.so", "libzstd.1.dylib", "libzstd.dylib", "libzstd"];

    /// <summary>ZSTD_d_windowLogMax: refuse frames whose window needs more than 2^27 bytes (128 MiB),
    /// the library's own default, stated explicitly so the memory bound is ours.</summary>
    public const int DecompressionWindowLogParameter = 100;
    public const int MaxWindowLog = 27;
    public const int ResetSessionOnly = 1;
    public const ulong ContentSizeUnknown = unchecked((ulong)-1);
    public const ulong ContentSizeError = unchecked((ulong)-2);

    [StructLayout(LayoutKind.Sequential)]
    public struct InBuffer { public byte* Src; public nuint Size; public nuint Pos; }

    [StructLayout(LayoutKind.Sequential)]
    public struct OutBuffer { public byte* Dst; public nuint Size; public nuint Pos; }

    private static readonly string? LoadFailure;
    private static readonly delegate* unmanaged<nuint, nuint> CompressBoundFn;
    private static readonly delegate* unmanaged<nuint, uint> IsErrorFn;
    private static readonly delegate* unmanaged<nuint, byte*> GetErrorNameFn;
    private static readonly delegate* unmanaged<nint> CreateCCtxFn;
    private static readonly delegate* unmanaged<nint, nuint> FreeCCtxFn;
    private static readonly delegate* unmanaged<nint, byte*, nuint, byte*, nuint, int, nuint> CompressCCtxFn;
    private static readonly delegate* unmanaged<nint> CreateDCtxFn;
    private static readonly delegate* unmanaged<nint, nuint> FreeDCtxFn;
    private static readonly delegate* unmanaged<nint, int, nuint> DCtxResetFn;
    private static readonly delegate* unmanaged<nint, int, int, nuint> DCtxSetParameterFn;
    private static readonly delegate* unmanaged<nint, OutBuffer*, InBuffer*, nuint> DecompressStreamFn;
    private static readonly delegate* unmanaged<byte*, nuint, ulong> GetFrameContentSizeFn;

    static ZstdNative()
    {
        try
        {
            nint handle = 0;
            if (!Array.Exists(Candidates, name => NativeLibrary.TryLoad(name, out handle)))
            {
                LoadFailure = "not found";
                return;
            }
            CompressBoundFn = (delegate* unmanaged<nuint, nuint>)NativeLibrary.GetExport(handle, "ZSTD_compressBound");
            IsErrorFn = (delegate* unmanaged<nuint, uint>)NativeLibrary.GetExport(handle, "ZSTD_isError");
            GetErrorNameFn = (delegate* unmanaged<nuint, byte*>)NativeLibrary.GetExport(handle, "ZSTD_getErrorName");
            CreateCCtxFn = (delegate* unmanaged<nint>)NativeLibrary.GetExport(handle, "ZSTD_createCCtx");
            FreeCCtxFn = (delegate* unmanaged<nint, nuint>)NativeLibrary.GetExport(handle, "ZSTD_freeCCtx");
            CompressCCtxFn = (delegate* unmanaged<nint, byte*, nuint, byte*, nuint, int, nuint>)NativeLibrary.GetExport(handle, "ZSTD_compressCCtx");
            CreateDCtxFn = (delegate* unmanaged<nint>)NativeLibrary.GetExport(handle, "ZSTD_createDCtx");
            FreeDCtxFn = (delegate* unmanaged<nint, nuint>)NativeLibrary.GetExport(handle, "ZSTD_freeDCtx");
            DCtxResetFn = (delegate* unmanaged<nint, int, nuint>)NativeLibrary.GetExport(handle, "ZSTD_DCtx_reset");
            DCtxSetParameterFn = (delegate* unmanaged<nint, int, int, nuint>)NativeLibrary.GetExport(handle, "ZSTD_DCtx_setParameter");
            DecompressStreamFn = (delegate* unmanaged<nint, OutBuffer*, InBuffer*, nuint>)NativeLibrary.GetExport(handle, "ZSTD_decompressStream");
            GetFrameContentSizeFn = (delegate* unmanaged<byte*, nuint, ulong>)NativeLibrary.GetExport(handle, "ZSTD_getFrameContentSize");
        }
        catch (EntryPointNotFoundException e)
        {
            LoadFailure = $"missing export: {e.Message}";
        }
    }

    public static bool IsAvailable => LoadFailure is null;

    public static void EnsureAvailable()
    {
        if (LoadFailure is not null)
            throw new NativeCodecUnavailableException("zstd", Library, DebianPackage, LoadFailure);
    }

    public static nuint CompressBound(nuint size) => CompressBoundFn(size);
    public static bool IsError(nuint code) => IsErrorFn(code) != 0;
    public static string ErrorName(nuint code) => Marshal.PtrToStringUTF8((nint)GetErrorNameFn(code)) ?? "unknown error";
    public static nint CreateCCtx() => CreateCCtxFn();
    public static void FreeCCtx(nint cctx) => FreeCCtxFn(cctx);
    public static nuint CompressCCtx(nint cctx, byte* dst, nuint capacity, byte* src, nuint size, int level) =>
        CompressCCtxFn(cctx, dst, capacity, src, size, level);
    public static nint CreateDCtx() => CreateDCtxFn();
    public static void FreeDCtx(nint dctx) => FreeDCtxFn(dctx);
    public static nuint ResetDCtx(nint dctx) => DCtxResetFn(dctx, ResetSessionOnly);
    public static nuint SetDCtxParameter(nint dctx, int parameter, int value) => DCtxSetParameterFn(dctx, parameter, value);
    public static nuint DecompressStream(nint dctx, OutBuffer* output, InBuffer* input) => DecompressStreamFn(dctx, output, input);
    public static ulong GetFrameContentSize(byte* src, nuint size) => GetFrameContentSizeFn(src, size);
}
