using Fjord.Testing;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Fjord.Protocol.Messages;
using Xunit.Abstractions;

namespace Fjord.Cluster.Tests.Brokers;

/// <summary>
/// Issue 6, "Must show" 3: a broker-only node keeps its copy of the metadata log on disk, so after
/// a restart it fetches only the tail it lacks. A broker is stopped (SIGTERM), the cluster makes
/// 10,000 metadata changes (ConfigRecords by IncrementalAlterConfigs, plus a topic), the broker is
/// restarted: it says it has the log up to X on disk, its first fetched records start at X (and it
/// never truncates below X nor resets to a snapshot), the leader's DescribeQuorum lists it as an
/// observer at the quorum's end, and its image has every change (the new topic, the last config values).
/// </summary>
[Collection(BrokerClusterCollection.Name)]
public sealed partial class MetadataCatchUpTests(ITestOutputHelper output) : IDisposable
{
    private const int Changes = 10_000;
    private const int Topics = 20;
    private static readonly string[] ConfigNames = ["retention.ms", "segment.ms", "retention.bytes", "delete.retention.ms", "max.message.bytes"];
    private const int Requests = Changes / (Topics * 5);
    private const int InFlight = 8;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private readonly ClusterDirectory _dir = new();
    private BrokerCluster? _cluster;

    public void Dispose()
    {
        _cluster?.Dispose();
        _dir.Dispose();
    }

    private static string ConfigValue(string name, int round) => name switch
    {
        "retention.ms" or "segment.ms" => (3_600_000 + round).ToString(CultureInfo.InvariantCulture),
        "delete.retention.ms" => (86_400_000 + round).ToString(CultureInfo.InvariantCulture),
        _ => (1_048_576 + round).ToString(CultureInfo.InvariantCulture),
    };

    private static IncrementalAlterConfigsRequest Round(int round)
    {
        var request = new IncrementalAlterConfigsRequest();
        for (int t = 0; t < Topics; t++)
        {
            var resource = new IncrementalAlterConfigsRequest.AlterConfigsResource { ResourceType = 2, ResourceName = $"cfg-{t:D2}" };
            foreach (var name in ConfigNames)
                resource.Configs.Add(new IncrementalAlterConfigsRequest.AlterableConfig { Name = name, ConfigOperation = 0, Value = ConfigValue(name, round) });
            request.Resources.Add(resource);
        }
        return request;
    }

    [GeneratedRegex(@"metadata log up to offset (\d+) on disk")]
    private static partial Regex OnDisk();

    [GeneratedRegex(@"fetched its first metadata records from the quorum at offset (\d+)")]
    private static partial Regex FirstFetched();

    [Fact]
    public async Task A_broker_restarted_after_10000_metadata_changes_fetches_only_the_missing_tail()
    {
        var clock = Stopwatch.StartNew();
        var cluster = _cluster = new BrokerCluster(_dir, output, combined: false, controllers: 1, brokers: 2);
        int controller = cluster.ControllerIds.Single(), stay = cluster.BrokerIds[0], restarted = cluster.BrokerIds[1];
        try
        {
            cluster.StartAll();
            await cluster.WaitForBrokersAsync(Bound);
            for (int t = 0; t < Topics; t++)
                await cluster.CreateTopicAsync($"cfg-{t:D2}", 1, 2, new Dictionary<string, string>(), Bound);
            await cluster.WaitUntilAsync(async () => await cluster.MetadataAsync(restarted, null) is { } m
                && Enumerable.Range(0, Topics).All(t => m.Topics.Any(x => x.Name == $"cfg-{t:D2}" && x.ErrorCode == 0)), Bound, "every topic on the broker");

            await cluster.TerminateAsync(restarted, Bound);
            output.WriteLine($"broker {restarted} stopped (SIGTERM) at {clock.Elapsed.TotalSeconds:F1} s");

            // 10,000 ConfigRecords: rounds of 20 topics x 5 configs, several rounds in flight on one connection.
            var before = await cluster.QuorumLeaderAsync();
            var changesClock = Stopwatch.StartNew();
            using (var client = await PipelinedClient.ConnectAsync(cluster.ControllerPorts[controller]))
            {
                var window = new Queue<Task<IncrementalAlterConfigsResponse>>();
                for (int round = 0; round < Requests; round++)
                {
                    window.Enqueue(client.SendAsync<IncrementalAlterConfigsResponse>(Round(round), 1));
                    if (window.Count >= InFlight) Check(await window.Dequeue().WaitAsync(Bound));
                }
                while (window.Count > 0) Check(await window.Dequeue().WaitAsync(Bound));
            }
            await cluster.CreateTopicAsync("after-restart", 1, 1, new Dictionary<string, string>(), Bound);
            using var probe = new QuorumProbe(cluster.ControllerPorts);
            var quorum = await probe.DescribeAsync(controller) ?? throw new InvalidOperationException("no DescribeQuorum answer");
            output.WriteLine($"{Changes} config changes in {Requests} IncrementalAlterConfigs and a CreateTopics in {changesClock.Elapsed.TotalSeconds:F1} s; " +
                $"metadata high watermark now {quorum.HighWatermark}");

            var restartClock = Stopwatch.StartNew();
            var node = cluster.Start(restarted);
            string onDisk = await node.WaitForLineAsync(l => OnDisk().IsMatch(l), Bound, "the on-disk metadata offset");
            string first = await node.WaitForLineAsync(l => FirstFetched().IsMatch(l), Bound, "the first fetched metadata offset");
            await node.WaitForLineAsync(l => l.Contains("unfenced at metadata offset", StringComparison.Ordinal), Bound, "unfenced");
            long x = long.Parse(OnDisk().Match(onDisk).Groups[1].Value, CultureInfo.InvariantCulture);
            long y = long.Parse(FirstFetched().Match(first).Groups[1].Value, CultureInfo.InvariantCulture);
            output.WriteLine($"restarted broker {restarted}: \"{onDisk}\"; \"{first}\"; unfenced {restartClock.Elapsed.TotalSeconds:F1} s after the start");
            Assert.Equal(x, y);
            Assert.True(quorum.HighWatermark - x >= Changes, $"only {quorum.HighWatermark - x} records after the on-disk end {x}");
            Assert.DoesNotContain(node.Lines("out"), l => l.Contains("truncated its metadata log", StringComparison.Ordinal)
                || l.Contains("reset its metadata log to snapshot", StringComparison.Ordinal));

            // The leader sees the broker as an observer at (or past) the high watermark of the changes.
            await cluster.WaitUntilAsync(async () => await probe.DescribeAsync(controller) is { } q
                && q.Observers.Any(o => o.ReplicaId == restarted && o.LogEndOffset >= quorum.HighWatermark), Bound,
                $"broker {restarted} listed by DescribeQuorum as an observer at offset {quorum.HighWatermark} or later");
            var observer = (await probe.DescribeAsync(controller))!.Observers.Single(o => o.ReplicaId == restarted);
            output.WriteLine($"DescribeQuorum on controller {controller}: observer {restarted} at log end {observer.LogEndOffset}");

            // Its image: the topic made while it was away, and the last value of every changed config.
            var metadata = await cluster.MetadataAsync(restarted, null) ?? throw new InvalidOperationException("no metadata from the restarted broker");
            Assert.Contains(metadata.Topics, t => t.Name == "after-restart" && t.ErrorCode == 0 && t.Partitions.Count == 1);
            var describe = new DescribeConfigsRequest();
            for (int t = 0; t < Topics; t++)
                describe.Resources.Add(new DescribeConfigsRequest.DescribeConfigsResource { ResourceType = 2, ResourceName = $"cfg-{t:D2}", ConfigurationKeys = [.. ConfigNames] });
            var configs = await cluster.SendToBrokerAsync<DescribeConfigsResponse>(restarted, describe, 4) ?? throw new InvalidOperationException("no DescribeConfigs answer");
            foreach (var result in configs.Results)
            {
                Assert.Equal(0, result.ErrorCode);
                foreach (var name in ConfigNames)
                    Assert.Equal(ConfigValue(name, Requests - 1), result.Configs.Single(c => c.Name == name).Value);
            }
            output.WriteLine($"broker {restarted}'s image has the new topic and the last of the {Changes} config values; test {clock.Elapsed.TotalSeconds:F1} s");
        }
        catch
        {
            output.WriteLine(cluster.Transcripts(200));
            throw;
        }

        static void Check(IncrementalAlterConfigsResponse answer)
        {
            foreach (var r in answer.Responses)
                Assert.True(r.ErrorCode == 0, $"IncrementalAlterConfigs {r.ResourceName}: error {r.ErrorCode} {r.ErrorMessage}");
        }
    }
}
