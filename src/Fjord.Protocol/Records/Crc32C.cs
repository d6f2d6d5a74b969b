using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ArmCrc = System.Runtime.Intrinsics.Arm.Crc32;
using X86Crc = System.Runtime.Intrinsics.X86.Sse42;

namespace Fjord.Protocol.Records;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of record batches v2.
/// Uses the CPU's CRC32C instruction (SSE4.2 on x64, the ARMv8 CRC extension on arm64) eight bytes
/// at a time, with a slicing-by-8 table fallback. Both paths are public so tests can prove they agree.
/// </summary>
/// <remarks>
/// Values are finished CRCs (pre- and post-inverted, as Kafka stores them), and
/// <c>Append(Compute(a), b) == Compute(a ++ b)</c>; <c>Compute("123456789") == 0xE3069283</c>.
/// </remarks>
public static class Crc32C
{
    private static readonly SlicingCrc32 Table = new(0x82F63B78u);

    /// <summary>True when <see cref="Compute"/> runs on the CPU's CRC32C instruction.</summary>
    public static bool IsHardwareAccelerated => X86Crc.X64.IsSupported || ArmCrc.Arm64.IsSupported;

    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>Continues <paramref name="crc"/> (a finished CRC of earlier bytes) over <paramref name="data"/>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data) =>
        IsHardwareAccelerated ? AppendHardware(crc, data) : AppendSoftware(crc, data);

    /// <summary>The table path, whatever the CPU.</summary>
    public static uint AppendSoftware(uint crc, ReadOnlySpan<byte> data) => ~Table.Update(~crc, data);

    /// <summary>The instruction path; throws <see cref="PlatformNotSupportedException"/> where the CPU lacks it.</summary>
    public static uint AppendHardware(uint crc, ReadOnlySpan<byte> data)
    {
        if (X86Crc.X64.IsSupported) return ~UpdateX64(~crc, data);
        if (ArmCrc.Arm64.IsSupported) return ~UpdateArm64(~crc, data);
        throw new PlatformNotSupportedException("this CPU has no CRC32C instruction");
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static uint UpdateX64(uint crc, ReadOnlySpan<byte> data)
    {
        ulong state = crc;
        ref byte start = ref MemoryMarshal.GetReference(data);
        int length = data.Length, i = 0;
        for (; i + 32 <= length; i += 32)
        {
            state = X86Crc.X64.Crc32(state, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i)));
            state = X86Crc.X64.Crc32(state, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i + 8)));
            state = X86Crc.X64.Crc32(state, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i + 16)));
            state = X86Crc.X64.Crc32(state, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i + 24)));
        }
        for (; i + 8 <= length; i += 8)
            state = X86Crc.X64.Crc32(state, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref start, i)));
        uint result = (uint)state;
        for (; i < length; i++)
            result = X86Crc.Crc32(result, Unsafe.Add(ref start, i));
        return result;
    }

    private static uint UpdateArm64(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = ArmCrc.Arm64.ComputeCrc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (byte b in data)
            crc = ArmCrc.ComputeCrc32C(crc, b);
        return crc;
    }
}
