using System.Diagnostics;
using System.Text;
using Fjord.Capture;
using Fjord.Protocol.Compression;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Records;

namespace Fjord.Protocol.Tests.Golden;

/// <summary>
/// The golden vectors, live: real clients (kcat, kafka-python) run against the capture broker
/// (tools/Fjord.Capture, in process, on a free 127.0.0.1 port) during the test run, and every frame
/// they send must decode and re-encode byte for byte, and every produced batch must hold what was
/// sent. Each test has its own port and temporary directory; every client run is bounded.
/// ./test installs kcat and python3-kafka; without them these tests fail (they do not skip).
/// </summary>
public sealed class LiveClientCaptureTests
{
    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(60);
    private const string Python = "/usr/bin/python3"; // Debian's python3-kafka is visible only to this interpreter

    private static string ProduceLines() =>
        string.Concat(GoldenVectorTests.ExpectedRecords.Select(r => $"{r.Key}:{r.Value}\n"));

    [Fact]
    public async Task Kcat_frames_decode_re_encode_and_carry_the_records_sent()
    {
        RequireExecutable("kcat", "apt-get install -y kcat");
        using var dir = new TempDirectory();
        await using var server = CaptureServer.Start(new CaptureOptions { OutputDirectory = dir.Path, Label = "live", Topics = ["golden"] });
        string broker = $"127.0.0.1:{server.Port}";

        var list = await RunAsync("kcat", ["-u", "-b", broker, "-L"]);
        Assert.Contains($"broker 0 at 127.0.0.1:{server.Port}", list);
        Assert.Contains("topic \"golden\" with 1 partitions", list);

        foreach (var (codec, name) in Codecs)
        {
            int before = server.Captured.Count;
            await RunAsync("kcat", ["-u", "-b", broker, "-P", "-t", "golden", "-K:", "-H", "hdr-a=A", "-H", "hdr-b=B", "-z", name, "-X", "linger.ms=200"],
                stdin: ProduceLines());
            AssertProduced(server.Captured.Skip(before), codec);
        }

        var consumed = await RunAsync("kcat", ["-u", "-b", broker, "-C", "-t", "golden", "-c", "1", "-e", "-o", "beginning", "-f", "%k=%s %h\n"]);
        Assert.Contains("golden-key=golden-value golden-header=h1", consumed);

        AssertEveryFrameRoundTrips(server, dir.Path, ["ApiVersions", "Metadata", "Produce", "ListOffsets", "Fetch"]);
    }

    [Fact]
    public async Task Kafka_python_frames_decode_re_encode_and_carry_the_records_sent()
    {
        RequireExecutable(Python, "apt-get install -y python3-kafka");
        using var dir = new TempDirectory();
        await using var server = CaptureServer.Start(new CaptureOptions { OutputDirectory = dir.Path, Label = "live", Topics = ["golden"] });
        string broker = $"127.0.0.1:{server.Port}";

        long nextOffset = 0;
        foreach (var (codec, name) in Codecs)
        {
            int before = server.Captured.Count;
            var output = await RunAsync(Python, ["-", broker, name], stdin: """
                import sys
                from kafka import KafkaProducer
                codec = None if sys.argv[2] == "none" else sys.argv[2]
                producer = KafkaProducer(bootstrap_servers=sys.argv[1], client_id="fjord-golden", compression_type=codec, linger_ms=200, acks=1)
                sent = []
                for i in (1, 2, 3):
                    value = ("value-%d " % i) + "fjord-golden-" * 10
                    sent.append(producer.send("golden", key=("key-%d" % i).encode(), value=value.encode(), headers=[("hdr-a", b"A"), ("hdr-b", b"B")]))
                producer.flush(timeout=10)
                print([f.get(timeout=10).offset for f in sent])
                producer.close(timeout=5)
                """);
            // Our Produce answer was understood: the capture broker hands out consecutive offsets.
            Assert.Contains($"[{nextOffset}, {nextOffset + 1}, {nextOffset + 2}]", output);
            nextOffset += 3;
            AssertProduced(server.Captured.Skip(before), codec);
        }

        var consumed = await RunAsync(Python, ["-", broker], stdin: """
            import sys
            from kafka import KafkaConsumer
            consumer = KafkaConsumer("golden", bootstrap_servers=sys.argv[1], client_id="fjord-golden", auto_offset_reset="earliest", consumer_timeout_ms=5000)
            for m in consumer:
                print("%s=%s %s" % (m.key.decode(), m.value.decode(), m.headers))
                break
            consumer.close()
            """);
        Assert.Contains("golden-key=golden-value [('golden-header', b'h1')]", consumed);

        AssertEveryFrameRoundTrips(server, dir.Path, ["ApiVersions", "Metadata", "Produce", "ListOffsets", "Fetch"]);
    }

    private static readonly (CompressionType Codec, string Name)[] Codecs =
    [
        (CompressionType.None, "none"), (CompressionType.Gzip, "gzip"), (CompressionType.Snappy, "snappy"),
        (CompressionType.Lz4, "lz4"), (CompressionType.Zstd, "zstd"),
    ];

    private static void AssertProduced(IEnumerable<CapturedFrame> frames, CompressionType codec)
    {
        var batches = frames.Where(f => f.ApiName == "Produce")
            .SelectMany(f => GoldenVectorTests.BatchesOf((ProduceRequest)Frames.DecodeRequest(f.Frame).Body))
            .ToList();
        Assert.NotEmpty(batches);
        GoldenVectorTests.AssertRecords(batches, codec, GoldenVectorTests.ExpectedRecords);
    }

    private static void AssertEveryFrameRoundTrips(CaptureServer server, string directory, string[] requiredApis)
    {
        Assert.Empty(server.Problems); // the server checks each frame as it arrives
        var frames = server.Captured;
        Assert.NotEmpty(frames);
        foreach (var frame in frames)
        {
            var request = Frames.DecodeRequest(frame.Frame);
            var reencoded = Frames.EncodeRequest(request.Header, request.Body).AsSpan(Frames.SizePrefixBytes);
            Assert.True(reencoded.SequenceEqual(frame.Frame), $"{frame.ApiName} v{frame.ApiVersion} (#{frame.Sequence}) re-encodes differently");
            // The file the capture tool wrote holds exactly the frame: <label>-<ApiName>-v<version>-<seq>.bin.
            Assert.Equal($"live-{frame.ApiName}-v{frame.ApiVersion}-{frame.Sequence:D4}.bin", frame.FileName);
            Assert.Equal(frame.Frame, File.ReadAllBytes(Path.Combine(directory, frame.FileName!)));
        }
        var apis = frames.Select(f => f.ApiName).ToHashSet();
        foreach (var api in requiredApis)
            Assert.True(apis.Contains(api), $"no {api} request was captured (have: {string.Join(", ", apis.Order())})");
    }

    // ---------------------------------------------------------------------------------------------

    private static void RequireExecutable(string name, string install)
    {
        bool found = Path.IsPathRooted(name)
            ? File.Exists(name)
            : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, name)));
        Assert.True(found, $"{name} is not installed ({install}; ./test installs it)");
    }

    /// <summary>Runs a client to completion within <see cref="ClientTimeout"/>; fails on timeout or a non-zero exit.</summary>
    private static async Task<string> RunAsync(string file, string[] args, string? stdin = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(ClientTimeout);
        try
        {
            if (stdin is not null) await process.StandardInput.WriteAsync(stdin.AsMemory(), timeout.Token);
            process.StandardInput.Close();
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Fail($"{file} {string.Join(' ', args)} did not finish within {ClientTimeout.TotalSeconds} s; stderr: {await stderr}");
        }
        string output = await stdout, errors = await stderr;
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} exited with {process.ExitCode}; stdout: {output}; stderr: {errors}");
        return output;
    }

    private sealed class TempDirectory : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("fjord-capture-").FullName;

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); }
            catch (IOException) { }
        }
    }
}
