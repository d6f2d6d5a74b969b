using System.Runtime.InteropServices;

namespace Fjord.Protocol.Compression;

/// <summary>A libzstd compression context, freed by the finalizer if not disposed.</summary>
internal sealed class ZstdCompressionContext : SafeHandle
{
    public ZstdCompressionContext() : base(0, ownsHandle: true)
    {
        SetHandle(ZstdNative.CreateCCtx());
        if (IsInvalid) throw new OutOfMemoryException("ZSTD_createCCtx failed");
    }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        ZstdNative.FreeCCtx(handle);
        return true;
    }
}

/// <summary>A libzstd decompression context with the window limit applied; freed by the finalizer
/// if not disposed. One per thread (see <see cref="ZstdCodec"/>), reset before each use.</summary>
internal sealed class ZstdDecompressionContext : SafeHandle
{
    public ZstdDecompressionContext() : base(0, ownsHandle: true)
    {
        SetHandle(ZstdNative.CreateDCtx());
        if (IsInvalid) throw new OutOfMemoryException("ZSTD_createDCtx failed");
        var code = ZstdNative.SetDCtxParameter(handle, ZstdNative.DecompressionWindowLogParameter, ZstdNative.MaxWindowLog);
        if (ZstdNative.IsError(code)) throw new InvalidOperationException($"ZSTD_DCtx_setParameter: {ZstdNative.ErrorName(code)}");
    }

    public override bool IsInvalid => handle == 0;

    public nint Handle => handle;

    protected override bool ReleaseHandle()
    {
        ZstdNative.FreeDCtx(handle);
        return true;
    }
}
