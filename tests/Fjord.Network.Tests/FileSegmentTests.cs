using System.Buffers.Binary;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;
using Microsoft.Win32.SafeHandles;

namespace Fjord.Network.Tests;

public sealed class FileSegmentTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fjord-network-" + Guid.NewGuid().ToString("N"));

    public FileSegmentTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Theory]
    [InlineData(true, true, 12)]   // sendfile, flexible Fetch: response header v1
    [InlineData(false, true, 12)]  // pread fallback by option
    [InlineData(true, false, 12)]  // pread fallback: a synchronous handle
    [InlineData(true, true, 11)]   // response header v0
    public async Task A_segmented_response_with_file_regions_arrives_byte_identical(bool useSendFile, bool asyncHandle, short fetchVersion)
    {
        var content = new byte[3 * 1024 * 1024 + 17];
        new Random(11).NextBytes(content);
        var path = Path.Combine(_dir, "00000000000000000000.log");
        await File.WriteAllBytesAsync(path, content);
        using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete,
            asyncHandle ? FileOptions.Asynchronous : FileOptions.None);

        byte[] head = [1, 2, 3, 4, 5];
        byte[] middle = [9, 9];
        byte[] tail = [0xAB];
        var expectedBody = head.Concat(content.AsSpan(100, 2_000_000).ToArray()).Concat(middle)
            .Concat(content.AsSpan(2_500_000, 600_000).ToArray()).Concat(tail).ToArray();
        int completions = 0;

        var registry = new ApiHandlerRegistry();
        registry.Register<FetchRequest>(4, 17, (_, _) => ValueTask.FromResult(ApiResponse.FromSegments(
        [
            head,
            ResponseSegment.FromFile(handle, 100, 2_000_000),
            middle,
            ResponseSegment.FromFile(handle, 2_500_000, 0), // empty: skipped
            ResponseSegment.FromFile(handle, 2_500_000, 600_000),
            tail,
        ], () => Interlocked.Increment(ref completions))));
        await using var server = new TestServer(registry, new NetworkOptions { UseSendFile = useSendFile });
        using var client = await server.ConnectRawAsync();
        await client.SendRequestAsync(new FetchRequest { MaxWaitMs = 0 }, fetchVersion, 31);
        var frame = await client.ReadFrameAsync() ?? throw new Xunit.Sdk.XunitException("closed: " + string.Join(" | ", server.LogLines));
        int headerSize = Frames.ResponseHeaderVersion(FetchRequest.ApiKey, fetchVersion) == 1 ? 5 : 4;
        Assert.Equal(31, BinaryPrimitives.ReadInt32BigEndian(frame));
        if (headerSize == 5) Assert.Equal(0, frame[4]); // no tagged fields in the header
        Assert.Equal(expectedBody.Length + headerSize, frame.Length);
        Assert.True(expectedBody.AsSpan().SequenceEqual(frame.AsSpan(headerSize)), "body bytes differ");
        await Waits.UntilAsync(() => Volatile.Read(ref completions) == 1, "the completion callback");
        Assert.False(handle.IsClosed); // the caller's handle is never closed by the network layer

        // the connection goes on: a second response on the same connection
        await client.SendRequestAsync(new FetchRequest { MaxWaitMs = 0 }, fetchVersion, 32);
        var second = await client.ReadFrameOrThrowAsync();
        Assert.Equal(32, BinaryPrimitives.ReadInt32BigEndian(second));
        Assert.True(expectedBody.AsSpan().SequenceEqual(second.AsSpan(headerSize)));
        long expectedOut = 2L * (expectedBody.Length + headerSize + 4);
        await Waits.UntilAsync(() => server.Server.Stats().BytesOut == expectedOut, $"{expectedOut} bytes out to be counted");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_file_region_beyond_the_end_of_the_file_closes_the_connection(bool useSendFile)
    {
        var path = Path.Combine(_dir, "short.log");
        await File.WriteAllBytesAsync(path, new byte[1000]);
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous);
        int completions = 0;
        var registry = new ApiHandlerRegistry();
        registry.Register<FetchRequest>(4, 17, (_, _) => ValueTask.FromResult(ApiResponse.FromSegments(
            [ResponseSegment.FromFile(handle, 500, 100_000)], () => Interlocked.Increment(ref completions))));
        await using var server = new TestServer(registry, new NetworkOptions { UseSendFile = useSendFile });
        using var client = await server.ConnectRawAsync();
        await client.SendRequestAsync(new FetchRequest(), 12, 1);
        // the size prefix may already be out; what matters is that the connection closes and nothing hangs
        await Waits.UntilAsync(() => server.Server.Stats().OpenConnections == 0, "the connection to close");
        await Waits.UntilAsync(() => Volatile.Read(ref completions) == 1, "the completion callback");
        Assert.False(handle.IsClosed);
    }
}
