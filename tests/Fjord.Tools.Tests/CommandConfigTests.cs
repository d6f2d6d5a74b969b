using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Fjord.Cli.Admin;
using Fjord.Server;
using Fjord.Protocol.Framing;
using Fjord.Protocol.Messages;

namespace Fjord.Tools.Tests;

/// <summary>
/// <c>--command-config FILE</c>: Java properties parsing, the settings Fjord's client honours
/// (bootstrap.servers, client.id, request.timeout.ms), refused security settings and warnings.
/// </summary>
public sealed class CommandConfigTests(GroupNode node) : IClassFixture<GroupNode>
{
    private string WriteConfig(string name, string text)
    {
        var path = Path.Combine(node.Dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Java_properties_format_is_parsed_as_java_does()
    {
        const string text =
            "# a comment\n" +
            "! another comment \\\n" +                       // a comment line never continues
            "   \t\n" +                                      // blank
            "  a = 1\n" +                                    // blanks around '='
            "b:2\r\n" +                                      // ':' and CRLF
            "c 3\r" +                                        // a blank separates, CR alone ends a line
            "d=\n" +                                         // empty value
            "e = x = y : z\n" +                              // only the first separator counts
            "key\\ with\\ spaces\\=and\\:colon = v\n" +      // escaped separators in a key
            "f = fir\\\n" +                                  // continuation: the next line's leading blanks go
            "      st \\\\\n" +                              // an even count of backslashes: no continuation
            "g = \\t\\n\\u0041\\u00e9\\q\n" +                // escapes; \q is q
            "a = replaced\n" +                               // a later duplicate replaces the value
            "h=\\u00e9t\\u00E9";                             // no final newline
        // --command-config files are read by the same parser as server.properties (PropertiesFile).
        var file = PropertiesFile.Parse(text);
        var entries = file.ToDictionary();
        Assert.Equal("replaced", entries["a"]);
        Assert.Equal("2", entries["b"]);
        Assert.Equal("3", entries["c"]);
        Assert.Equal("", entries["d"]);
        Assert.Equal("x = y : z", entries["e"]);
        Assert.Equal("v", entries["key with spaces=and:colon"]);
        Assert.Equal("first \\", entries["f"]);
        Assert.Equal("\t\nAéq", entries["g"]);
        Assert.Equal("été", entries["h"]);
        Assert.Equal(9, entries.Count);
        Assert.DoesNotContain(file.Entries, e => e.Key.StartsWith('#') || e.Key.StartsWith('!'));
        Assert.Equal(4, file.Entries.First(e => e.Key == "a").Line);

        var bad = Assert.Throws<PropertiesFormatException>(() => PropertiesFile.Parse("ok=1\nx=\\u12G4\n"));
        Assert.Equal(2, bad.Line);
        Assert.Throws<PropertiesFormatException>(() => PropertiesFile.Parse("x=\\u12"));
    }

    [Fact]
    public async Task Client_id_and_bootstrap_servers_come_from_the_file_and_unknown_keys_are_warned_about()
    {
        node.Ok("topics", "--create", "--topic", "cfg-client", "--partitions", "1");
        string config = WriteConfig("client.properties", $"""
            # the console consumer's settings
            bootstrap.servers = {node.Bootstrap}
            client.id: cfg-\
                client-7
            security.protocol=PLAINTEXT
            made.up.setting=1
            """);
        // No --bootstrap-server: bootstrap.servers of the file is used.
        var run = GroupNode.RawOnOwnThread("console-consumer", "--topic", "cfg-client", "--group", "g-cfg", "--timeout-ms", "6000", "--command-config", config);

        await using (var connection = await node.ConnectAsync())
        {
            var deadline = Stopwatch.StartNew();
            string? clientId = null;
            while (deadline.Elapsed < TimeSpan.FromSeconds(10) && !run.IsCompleted)
            {
                var g = await node.DescribeGroupAsync(connection, "g-cfg");
                clientId = g.ErrorCode == 0 ? g.Members.FirstOrDefault()?.ClientId : null;
                if (clientId is not null) break;
                await Task.Delay(50);
            }
            string ended = run.IsCompleted ? (await run).Err : "";
            Assert.True(clientId == "cfg-client-7", $"member client id: {clientId ?? "(no member seen)"}; {ended}");
        }
        var (code, o, e) = await run.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(code == 0, e);
        Assert.Equal("", o);
        Assert.Contains("'made.up.setting' is not a setting", e);
        Assert.Contains("line 6", e);
        Assert.DoesNotContain("client.id' is not", e);
    }

    [Fact]
    public void Every_admin_command_takes_the_file_and_prints_its_warnings()
    {
        string config = WriteConfig("topics.properties", $"bootstrap.servers={node.Bootstrap}\nnot.a.client.setting=1\n");
        var (code, o, e) = GroupNode.Raw("topics", "--list", "--command-config", config);
        Assert.True(code == 0, e);
        Assert.Contains("fjord topics: warning:", e);
        Assert.Contains("'not.a.client.setting' is not a setting", e);
        Assert.DoesNotContain("Usage", o);
    }

    [Fact]
    public async Task Request_timeout_ms_bounds_each_request()
    {
        // A broker that answers ApiVersions and then nothing.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var server = Task.Run(() => ServeApiVersionsOnlyAsync(listener, stop.Token));
        string address = $"127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";
        string config = WriteConfig("timeout.properties", "request.timeout.ms=1500\n");
        // Warm up so that the command's own connection and ApiVersions exchange fit well inside 1.5 s on a
        // loaded machine: JIT of the fake broker's framing, and of the whole command path (in this process)
        // by one run of the same command against the real node.
        using (var warmCts = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        await using (await Fjord.Network.KafkaClientConnection.ConnectAsync("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port, "warm-up", warmCts.Token)) { }
        node.Ok("topics", "--list", "--command-config", config);

        var sw = Stopwatch.StartNew();
        var (code, _, e) = GroupNode.Raw("topics", "--list", "--bootstrap-server", address, "--command-config", config);
        sw.Stop();
        Assert.True(code == 1 && e.Contains("did not answer MetadataRequest") && e.Contains("within 1500 ms"), $"exit {code}, stderr: {e}");
        Assert.True(sw.ElapsedMilliseconds is >= 1450 and < 9000, $"took {sw.ElapsedMilliseconds} ms");
        stop.Cancel();
        listener.Stop();
        await server.WaitAsync(TimeSpan.FromSeconds(10));
    }

    private static async Task ServeApiVersionsOnlyAsync(TcpListener listener, CancellationToken ct)
    {
        var held = new List<TcpClient>();
        try
        {
            for (int accepted = 0; accepted < 8; accepted++)
            {
                var client = await listener.AcceptTcpClientAsync(ct);
                held.Add(client);
                _ = Task.Run(async () =>
                {
                    try
                    {
                        var stream = client.GetStream();
                        for (int requests = 0; requests < 16; requests++)
                        {
                            var prefix = new byte[4];
                            await stream.ReadExactlyAsync(prefix, ct);
                            var frame = new byte[Frames.ReadSize(prefix, 1 << 20)];
                            await stream.ReadExactlyAsync(frame, ct);
                            var request = Frames.DecodeRequest(frame);
                            if (request.Header.RequestApiKey != ApiVersionsRequest.ApiKey) continue; // never answered
                            var answer = new ApiVersionsResponse
                            {
                                ApiKeys =
                                [
                                    new ApiVersionsResponse.ApiVersion { ApiKey = ApiVersionsRequest.ApiKey, MinVersion = 0, MaxVersion = 3 },
                                    new ApiVersionsResponse.ApiVersion { ApiKey = MetadataRequest.ApiKey, MinVersion = 0, MaxVersion = 12 },
                                ],
                            };
                            await stream.WriteAsync(Frames.EncodeResponse(request.CorrelationId, ApiVersionsRequest.ApiKey, request.ApiVersion, answer), ct);
                        }
                    }
                    catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or EndOfStreamException)
                    {
                        // The client went away or the test is over.
                    }
                }, ct);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }
        finally
        {
            foreach (var c in held) c.Dispose();
        }
    }

    [Theory]
    [InlineData("security.protocol=SASL_PLAINTEXT\n", "security.protocol=SASL_PLAINTEXT is not supported")]
    [InlineData("security.protocol=SSL\n", "security.protocol=SSL is not supported")]
    [InlineData("sasl.mechanism=PLAIN\n", "sasl.mechanism is not supported")]
    [InlineData("ssl.truststore.location=/x.jks\n", "ssl.truststore.location is not supported")]
    [InlineData("request.timeout.ms=soon\n", "request.timeout.ms=soon is not a whole number")]
    [InlineData("x=\\u00zz\n", "malformed \\uXXXX escape")]
    public void A_bad_file_is_a_usage_error_with_a_clear_message(string text, string expected)
    {
        string config = WriteConfig($"bad-{Guid.NewGuid():N}.properties", text);
        var (code, o, e) = node.Fjord("topics", "--list", "--command-config", config);
        Assert.Equal(2, code);
        Assert.Equal("", o);
        Assert.Contains(expected, e);
        Assert.Contains(config, e);
    }

    [Fact]
    public void A_missing_file_is_a_usage_error()
    {
        string missing = Path.Combine(node.Dir, "no-such.properties");
        var (code, _, e) = node.Fjord("configs", "--describe", "--entity-type", "brokers", "--entity-name", "1", "--command-config", missing);
        Assert.Equal(2, code);
        Assert.Contains($"--command-config {missing}: cannot read it", e);
    }

    [Fact]
    public void Every_admin_command_takes_the_file_and_the_flag_wins_over_bootstrap_servers()
    {
        node.Ok("topics", "--create", "--topic", "cfg-admin", "--partitions", "1");
        // bootstrap.servers points nowhere useful, but --bootstrap-server (given by node.Fjord) wins.
        string config = WriteConfig("admin.properties", "bootstrap.servers=127.0.0.1:1\nclient.id=cfg-admin\n");
        Assert.Contains("cfg-admin", node.Ok("topics", "--list", "--command-config", config));
        string good = WriteConfig("admin-good.properties", $"bootstrap.servers={node.Bootstrap}\n");
        var (code, o, e) = GroupNode.Raw("topics", "--list", "--command-config", good);
        Assert.True(code == 0, e);
        Assert.Contains("cfg-admin", o);
    }
}
