using System.Text.Json;
using Fjord.Cli.Admin;

namespace Fjord.Tools.Tests;

/// <summary>
/// The admin commands (issue 8) against a live combined node: what they print is checked, not only
/// their exit codes. Commands that change the cluster wait until the broker shows the change, so each
/// describe right after is expected to see it.
/// </summary>
public sealed class AdminCommandsTests(AdminNode node) : IClassFixture<AdminNode>
{
    [Fact]
    public void Topics_create_describe_list_alter_delete()
    {
        Assert.Contains("Created topic adm-t1.", node.Ok("topics", "--create", "--topic", "adm-t1", "--partitions", "3", "--replication-factor", "1",
            "--config", "retention.ms=123456", "--config", "cleanup.policy=compact"));
        string describe = node.Ok("topics", "--describe", "--topic", "adm-t1");
        var lines = describe.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^Topic: adm-t1\tTopicId: \S{22}\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: cleanup.policy=compact,retention.ms=123456$", lines[0]);
        for (int p = 0; p < 3; p++) Assert.Equal($"\tTopic: adm-t1\tPartition: {p}\tLeader: 1\tReplicas: 1\tIsr: 1", lines[1 + p]);

        var json = node.Json("topics", "--describe", "--topic", "adm-t1");
        var t = Assert.Single(json.EnumerateArray());
        Assert.Equal(3, t.GetProperty("partitionCount").GetInt32());
        Assert.Equal(1, t.GetProperty("replicationFactor").GetInt32());
        Assert.Equal("123456", t.GetProperty("configs").GetProperty("retention.ms").GetString());
        Assert.Equal([0, 1, 2], t.GetProperty("partitions").EnumerateArray().Select(p => p.GetProperty("partition").GetInt32()));

        // Already there: exit 1 with one line; --if-not-exists: 0.
        var (code, _, err) = node.Fjord("topics", "--create", "--topic", "adm-t1");
        Assert.Equal(1, code);
        Assert.Contains("TOPIC_ALREADY_EXISTS", err);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        node.Ok("topics", "--create", "--topic", "adm-t1", "--if-not-exists");

        Assert.Contains("adm-t1", node.Ok("topics", "--list").Split('\n'));
        Assert.Contains("adm-t1", node.Json("topics", "--list", "--topic", "adm-.*").EnumerateArray().Select(e => e.GetString()));

        Assert.Contains("now has 5 partitions", node.Ok("topics", "--alter", "--topic", "adm-t1", "--partitions", "5"));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        int partitions;
        while ((partitions = node.Json("topics", "--describe", "--topic", "adm-t1")[0].GetProperty("partitionCount").GetInt32()) != 5 && DateTime.UtcNow < deadline)
            Thread.Yield();
        Assert.Equal(5, partitions);

        Assert.Contains("Deleted topic adm-t1.", node.Ok("topics", "--delete", "--topic", "adm-t1"));
        Assert.DoesNotContain("adm-t1", node.Ok("topics", "--list").Split('\n'));
        Assert.Equal(1, node.Fjord("topics", "--describe", "--topic", "adm-t1").Code);
    }

    [Fact]
    public void Usage_errors_exit_2()
    {
        Assert.Equal(2, node.Fjord("topics").Code); // no action
        Assert.Equal(2, node.Fjord("topics", "--list", "--describe").Code);
        Assert.Equal(2, node.Fjord("topics", "--create").Code); // no --topic
        Assert.Equal(2, node.Fjord("topics", "--list", "--bogus").Code);
        Assert.Equal(2, node.Fjord("configs", "--describe", "--entity-type", "nope", "--entity-name", "x").Code);
        Assert.Equal(2, node.Fjord("acls", "--add", "--topic", "x").Code); // no principal
        Assert.Equal(2, node.Fjord("features", "frobnicate").Code);
        Assert.Equal(2, node.Fjord("topics", "--list", "--output", "yaml").Code);
        var o = new StringWriter();
        Assert.Equal(0, Fjord.Cli.CommandLine.Run(["topics", "--help"], o, new StringWriter()));
        Assert.Contains("--create", o.ToString());
        // An unreachable cluster: 1, one line.
        var e = new StringWriter();
        Assert.Equal(1, Fjord.Cli.CommandLine.Run(["topics", "--list", "--bootstrap-server", "127.0.0.1:1"], new StringWriter(), e));
        Assert.Contains("cannot connect", e.ToString());
    }

    [Fact]
    public void Configs_alter_then_describe_shows_value_and_source()
    {
        node.Ok("topics", "--create", "--topic", "adm-cfg", "--partitions", "1");
        Assert.Contains("Completed updating config for topic adm-cfg.", node.Ok("configs", "--entity-type", "topics", "--entity-name", "adm-cfg", "--alter",
            "--add-config", "retention.ms=7777,segment.bytes=1048576"));
        string table = node.Ok("configs", "--entity-type", "topics", "--entity-name", "adm-cfg", "--describe");
        Assert.Matches(@"retention\.ms\s+7777\s+DYNAMIC_TOPIC_CONFIG", table);
        Assert.Matches(@"segment\.bytes\s+1048576\s+DYNAMIC_TOPIC_CONFIG", table);

        node.Ok("configs", "--entity-type", "topics", "--entity-name", "adm-cfg", "--alter", "--delete-config", "segment.bytes");
        var all = node.Json("configs", "--entity-type", "topics", "--entity-name", "adm-cfg", "--describe", "--all").GetProperty("configs").EnumerateArray().ToList();
        var segment = all.Single(c => c.GetProperty("name").GetString() == "segment.bytes");
        Assert.NotEqual("DYNAMIC_TOPIC_CONFIG", segment.GetProperty("source").GetString());
        var retention = all.Single(c => c.GetProperty("name").GetString() == "retention.ms");
        Assert.Equal("7777", retention.GetProperty("value").GetString());
        Assert.Equal("DYNAMIC_TOPIC_CONFIG", retention.GetProperty("source").GetString());

        node.Ok("configs", "--entity-type", "brokers", "--entity-name", "1", "--alter", "--add-config", "log.cleaner.threads=2");
        Assert.Matches(@"log\.cleaner\.threads\s+2\s+DYNAMIC_BROKER_CONFIG", node.Ok("configs", "--entity-type", "brokers", "--entity-name", "1", "--describe"));
        node.Ok("configs", "--entity-type", "broker-defaults", "--alter", "--add-config", "log.retention.ms=99999");
        var defaults = node.Json("configs", "--entity-type", "brokers", "--entity-default", "--describe").GetProperty("configs").EnumerateArray()
            .Single(c => c.GetProperty("name").GetString() == "log.retention.ms");
        Assert.Equal("99999", defaults.GetProperty("value").GetString());
        Assert.Equal("DYNAMIC_DEFAULT_BROKER_CONFIG", defaults.GetProperty("source").GetString());

        // An unknown config: the broker's refusal, exit 1.
        var (code, _, err) = node.Fjord("configs", "--entity-type", "topics", "--entity-name", "adm-cfg", "--alter", "--add-config", "no.such.config=1");
        Assert.Equal(1, code);
        Assert.Contains("INVALID", err);
    }

    [Fact]
    public void Acls_add_list_remove()
    {
        string added = node.Ok("acls", "--add", "--allow-principal", "User:alice", "--operation", "Read", "--operation", "Write", "--topic", "adm-acl");
        Assert.Contains("Added 2 ACL(s):", added);
        node.Ok("acls", "--add", "--deny-principal", "User:bob", "--group", "adm-g", "--resource-pattern-type", "prefixed");

        string list = node.Ok("acls", "--list");
        Assert.Matches(@"TOPIC\s+adm-acl\s+LITERAL\s+User:alice\s+\*\s+READ\s+ALLOW", list);
        Assert.Matches(@"TOPIC\s+adm-acl\s+LITERAL\s+User:alice\s+\*\s+WRITE\s+ALLOW", list);
        Assert.Matches(@"GROUP\s+adm-g\s+PREFIXED\s+User:bob\s+\*\s+ALL\s+DENY", list);

        var topicAcls = node.Json("acls", "--list", "--topic", "adm-acl").EnumerateArray().ToList();
        Assert.Equal(["READ", "WRITE"], topicAcls.Select(a => a.GetProperty("operation").GetString()).Order());

        Assert.Contains("Removed 1 ACL(s):", node.Ok("acls", "--remove", "--topic", "adm-acl", "--operation", "Write", "--force"));
        var left = node.Json("acls", "--list", "--topic", "adm-acl").EnumerateArray().ToList();
        Assert.Equal("READ", Assert.Single(left).GetProperty("operation").GetString());
        node.Ok("acls", "--remove", "--topic", "adm-acl");
        node.Ok("acls", "--remove", "--group", "adm-g", "--resource-pattern-type", "prefixed");
        Assert.Empty(node.Json("acls", "--list", "--topic", "adm-acl").EnumerateArray());
    }

    [Fact]
    public void Client_quotas_alter_describe()
    {
        Assert.Contains("Completed updating quotas for user=adm-alice.", node.Ok("client-quotas", "--alter", "--entity-type", "users", "--entity-name", "adm-alice",
            "--add-config", "producer_byte_rate=1024,consumer_byte_rate=2048"));
        string table = node.Ok("client-quotas", "--describe", "--entity-type", "users", "--entity-name", "adm-alice");
        Assert.Matches(@"user=adm-alice\s+consumer_byte_rate\s+2048\.0", table);
        Assert.Matches(@"user=adm-alice\s+producer_byte_rate\s+1024\.0", table);

        node.Ok("configs", "--entity-type", "clients", "--entity-default", "--alter", "--add-config", "request_percentage=50");
        var all = node.Json("client-quotas", "--describe").EnumerateArray().ToList();
        var defaultClient = all.Single(x => x.GetProperty("entity").TryGetProperty("client-id", out var v) && v.ValueKind == JsonValueKind.Null);
        Assert.Equal(50.0, defaultClient.GetProperty("quotas").GetProperty("request_percentage").GetDouble());

        node.Ok("client-quotas", "--alter", "--entity-type", "users", "--entity-name", "adm-alice", "--delete-config", "producer_byte_rate");
        var alice = Assert.Single(node.Json("client-quotas", "--describe", "--entity-type", "users", "--entity-name", "adm-alice").EnumerateArray());
        Assert.False(alice.GetProperty("quotas").TryGetProperty("producer_byte_rate", out _));
        Assert.Equal(2048.0, alice.GetProperty("quotas").GetProperty("consumer_byte_rate").GetDouble());

        Assert.Equal(2, node.Fjord("client-quotas", "--alter", "--entity-type", "users", "--entity-name", "x", "--add-config", "producer_byte_rate=fast").Code);
    }

    [Fact]
    public void Client_quotas_for_ips_alter_describe_delete()
    {
        Assert.Contains("Completed updating quotas for ip=127.0.0.1.", node.Ok("client-quotas", "--alter", "--entity-type", "ips", "--entity-name", "127.0.0.1",
            "--add-config", "connection_creation_rate=10"));
        Assert.Contains("Completed updating quotas for ip=<default>.", node.Ok("client-quotas", "--alter", "--entity-type", "ips", "--entity-default",
            "--add-config", "connection_creation_rate=25"));
        // As Kafka, the ip quota is an integer rate: a fraction is the broker's INVALID_REQUEST, exit 1.
        var (fraction, _, fractionErr) = node.Fjord("client-quotas", "--alter", "--entity-type", "ips", "--entity-default", "--add-config", "connection_creation_rate=25.5");
        Assert.Equal(1, fraction);
        Assert.Contains("INVALID_REQUEST: Configuration connection_creation_rate must be an Integer value", fractionErr);
        Assert.Matches(@"(?m)^ip=127\.0\.0\.1\s+connection_creation_rate\s+10\.0$", node.Ok("client-quotas", "--describe", "--entity-type", "ips", "--entity-name", "127.0.0.1"));
        // One entity: exactly its quota, not the default's.
        var one = Assert.Single(node.Json("client-quotas", "--describe", "--entity-type", "ips", "--entity-name", "127.0.0.1").EnumerateArray());
        Assert.Equal("127.0.0.1", one.GetProperty("entity").GetProperty("ip").GetString());
        Assert.Equal(10.0, Assert.Single(one.GetProperty("quotas").EnumerateObject()).Value.GetDouble());
        var dflt = Assert.Single(node.Json("client-quotas", "--describe", "--entity-type", "ips", "--entity-default").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, dflt.GetProperty("entity").GetProperty("ip").ValueKind);
        Assert.Equal(25.0, dflt.GetProperty("quotas").GetProperty("connection_creation_rate").GetDouble());
        Assert.Matches(@"(?m)^ip=<default>\s+connection_creation_rate\s+25\.0$", node.Ok("client-quotas", "--describe", "--entity-type", "ips", "--entity-default"));
        // Every ip entity: both, and no user or client quota.
        var ips = node.Json("client-quotas", "--describe", "--entity-type", "ips").EnumerateArray().ToList();
        Assert.Equal(2, ips.Count);
        Assert.All(ips, e => Assert.Equal(["ip"], e.GetProperty("entity").EnumerateObject().Select(p => p.Name)));
        Assert.Equal([10.0, 25.0], ips.Select(e => e.GetProperty("quotas").GetProperty("connection_creation_rate").GetDouble()).Order());
        // A user quota is not an ip quota: the broker refuses it, exit 1.
        var (code, _, err) = node.Fjord("client-quotas", "--alter", "--entity-type", "ips", "--entity-name", "127.0.0.1", "--add-config", "producer_byte_rate=100");
        Assert.Equal(1, code);
        Assert.Contains("INVALID_REQUEST", err);
        // Not an address: refused.
        Assert.NotEqual(0, node.Fjord("client-quotas", "--alter", "--entity-type", "ips", "--entity-name", "not-an-ip", "--add-config", "connection_creation_rate=1").Code);

        // Delete: the entity disappears once its last quota is gone.
        node.Ok("client-quotas", "--alter", "--entity-type", "ips", "--entity-name", "127.0.0.1", "--delete-config", "connection_creation_rate");
        Assert.Empty(node.Json("client-quotas", "--describe", "--entity-type", "ips", "--entity-name", "127.0.0.1").EnumerateArray());
        Assert.Equal("ENTITY  QUOTA  VALUE", node.Ok("client-quotas", "--describe", "--entity-type", "ips", "--entity-name", "127.0.0.1").Trim());
        var left = Assert.Single(node.Json("client-quotas", "--describe", "--entity-type", "ips").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, left.GetProperty("entity").GetProperty("ip").ValueKind);
        node.Ok("client-quotas", "--alter", "--entity-type", "ips", "--entity-default", "--delete-config", "connection_creation_rate");
        Assert.Empty(node.Json("client-quotas", "--describe", "--entity-type", "ips").EnumerateArray());
    }

    [Fact]
    public void Acls_for_transactional_ids_cluster_and_prefixed_groups_add_list_filter_remove()
    {
        string added = node.Ok("acls", "--add", "--allow-principal", "User:txn-app", "--operation", "Write", "--operation", "Describe",
            "--transactional-id", "adm-txn-1", "--allow-host", "10.0.0.1");
        Assert.Contains("Added 2 ACL(s):", added);
        Assert.Matches(@"(?m)^TRANSACTIONAL_ID\s+adm-txn-1\s+LITERAL\s+User:txn-app\s+10\.0\.0\.1\s+WRITE\s+ALLOW$", added);
        node.Ok("acls", "--add", "--allow-principal", "User:txn-app", "--operation", "Write", "--transactional-id", "adm-txn-", "--resource-pattern-type", "prefixed");
        node.Ok("acls", "--add", "--allow-principal", "User:ops", "--operation", "IdempotentWrite", "--operation", "ClusterAction", "--cluster");
        node.Ok("acls", "--add", "--deny-principal", "User:ops", "--operation", "Alter", "--cluster", "--deny-host", "10.9.9.9");
        node.Ok("acls", "--add", "--allow-principal", "User:reader", "--operation", "Read", "--group", "adm-app-", "--resource-pattern-type", "prefixed");

        // By resource (literal by default): only that resource's bindings.
        var txn = node.Json("acls", "--list", "--transactional-id", "adm-txn-1").EnumerateArray().ToList();
        Assert.Equal(2, txn.Count);
        Assert.All(txn, b =>
        {
            Assert.Equal("TRANSACTIONAL_ID", b.GetProperty("resourceType").GetString());
            Assert.Equal("adm-txn-1", b.GetProperty("name").GetString());
            Assert.Equal("LITERAL", b.GetProperty("patternType").GetString());
            Assert.Equal("User:txn-app", b.GetProperty("principal").GetString());
            Assert.Equal("10.0.0.1", b.GetProperty("host").GetString());
            Assert.Equal("ALLOW", b.GetProperty("permission").GetString());
        });
        Assert.Equal(["DESCRIBE", "WRITE"], txn.Select(b => b.GetProperty("operation").GetString()).Order());
        // --resource-pattern-type match: every binding that applies to the name, the prefixed one too.
        var matching = node.Json("acls", "--list", "--transactional-id", "adm-txn-1", "--resource-pattern-type", "match").EnumerateArray().ToList();
        Assert.Equal(3, matching.Count);
        Assert.Contains(matching, b => b.GetProperty("name").GetString() == "adm-txn-" && b.GetProperty("patternType").GetString() == "PREFIXED");
        Assert.Single(node.Json("acls", "--list", "--transactional-id", "adm-txn-", "--resource-pattern-type", "prefixed").EnumerateArray());

        string cluster = node.Ok("acls", "--list", "--cluster");
        Assert.Matches(@"(?m)^CLUSTER\s+kafka-cluster\s+LITERAL\s+User:ops\s+\*\s+CLUSTER_ACTION\s+ALLOW$", cluster);
        Assert.Matches(@"(?m)^CLUSTER\s+kafka-cluster\s+LITERAL\s+User:ops\s+\*\s+IDEMPOTENT_WRITE\s+ALLOW$", cluster);
        Assert.Matches(@"(?m)^CLUSTER\s+kafka-cluster\s+LITERAL\s+User:ops\s+10\.9\.9\.9\s+ALTER\s+DENY$", cluster);
        Assert.DoesNotContain("TRANSACTIONAL_ID", cluster);
        Assert.Equal(3, cluster.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length - 1);
        // --operation and --principal narrow a list.
        Assert.Equal("DENY", Assert.Single(node.Json("acls", "--list", "--cluster", "--operation", "Alter").EnumerateArray()).GetProperty("permission").GetString());
        var ops = node.Json("acls", "--list", "--principal", "User:ops").EnumerateArray().ToList();
        Assert.Equal(3, ops.Count);
        Assert.All(ops, b => Assert.Equal("CLUSTER", b.GetProperty("resourceType").GetString()));

        // A prefixed group ACL: not listed for the literal name, listed with match for a group under the prefix.
        Assert.Empty(node.Json("acls", "--list", "--group", "adm-app-").EnumerateArray());
        var group = Assert.Single(node.Json("acls", "--list", "--group", "adm-app-orders", "--resource-pattern-type", "match").EnumerateArray());
        Assert.Equal(("GROUP", "adm-app-", "PREFIXED", "READ"), (group.GetProperty("resourceType").GetString(), group.GetProperty("name").GetString(),
            group.GetProperty("patternType").GetString(), group.GetProperty("operation").GetString()));
        Assert.Empty(node.Json("acls", "--list", "--group", "other-app", "--resource-pattern-type", "match").EnumerateArray());

        // Remove: one operation of the transactional id, then the deny on the cluster by principal and host, then the rest.
        string removed = node.Ok("acls", "--remove", "--transactional-id", "adm-txn-1", "--operation", "Describe", "--force");
        Assert.Contains("Removed 1 ACL(s):", removed);
        Assert.Matches(@"(?m)^TRANSACTIONAL_ID\s+adm-txn-1\s+LITERAL\s+User:txn-app\s+10\.0\.0\.1\s+DESCRIBE\s+ALLOW$", removed);
        Assert.Equal("WRITE", Assert.Single(node.Json("acls", "--list", "--transactional-id", "adm-txn-1").EnumerateArray()).GetProperty("operation").GetString());
        Assert.Contains("Removed 1 ACL(s):", node.Ok("acls", "--remove", "--cluster", "--deny-principal", "User:ops", "--deny-host", "10.9.9.9"));
        Assert.Equal(["CLUSTER_ACTION", "IDEMPOTENT_WRITE"], node.Json("acls", "--list", "--cluster").EnumerateArray().Select(b => b.GetProperty("operation").GetString()).Order());
        Assert.Contains("Removed 2 ACL(s):", node.Ok("acls", "--remove", "--cluster"));
        Assert.Contains("Removed 1 ACL(s):", node.Ok("acls", "--remove", "--group", "adm-app-", "--resource-pattern-type", "prefixed"));
        node.Ok("acls", "--remove", "--transactional-id", "adm-txn-1");
        node.Ok("acls", "--remove", "--transactional-id", "adm-txn-", "--resource-pattern-type", "prefixed");
        Assert.Empty(node.Json("acls", "--list", "--transactional-id", "adm-txn-1", "--resource-pattern-type", "match").EnumerateArray());
        Assert.Empty(node.Json("acls", "--list", "--cluster").EnumerateArray());
        Assert.Empty(node.Json("acls", "--list", "--principal", "User:reader").EnumerateArray());
    }

    [Fact]
    public void Features_describe_and_dry_run()
    {
        string table = node.Ok("features", "describe");
        Assert.Matches(@"metadata\.version\s+\d\.\d+-IV\d+\s+\d\.\d+-IV\d+\s+\d\.\d+-IV\d+\s+\d+", table);
        var json = node.Json("features", "describe");
        var mv = json.GetProperty("features").EnumerateArray().Single(f => f.GetProperty("feature").GetString() == "metadata.version");
        short level = mv.GetProperty("finalizedVersionLevel").GetInt16();
        Assert.True(level >= mv.GetProperty("supportedMinVersion").GetInt16() && level <= mv.GetProperty("supportedMaxVersion").GetInt16());

        // The current level, validated only: accepted. A release string resolves to a level.
        Assert.Contains($"metadata.version can be upgraded to {level}.", node.Ok("features", "upgrade", "--metadata", level.ToString(), "--dry-run"));
        var result = node.Json("features", "upgrade", "--metadata", mv.GetProperty("finalizedVersion").GetString()!, "--dry-run").GetProperty("results")[0];
        Assert.True(result.GetProperty("ok").GetBoolean());
        Assert.Equal(level, result.GetProperty("level").GetInt16());
        // A safe downgrade across metadata format changes is refused: exit 1, the broker's reason printed.
        var (code, o, _) = node.Fjord("features", "downgrade", "--metadata", "3.3", "--dry-run");
        Assert.Equal(1, code);
        Assert.Contains("Could not downgrade metadata.version", o);
        Assert.Equal(2, node.Fjord("features", "upgrade").Code);
        Assert.Equal(2, node.Fjord("features", "upgrade", "--metadata", "9.9").Code);
    }

    [Fact]
    public void Console_producer_to_console_consumer_round_trip_with_keys_and_headers()
    {
        node.Ok("topics", "--create", "--topic", "adm-console", "--partitions", "2");
        string input = "h1:v1,h2:v2\tk1:hello\nh3:x\tk2:world, with comma\n\tk3:no headers\nh4:\tk1:again\n";
        var o = new StringWriter();
        var e = new StringWriter();
        int code = ConsoleProducerCommand.Run(["--bootstrap-server", node.Bootstrap, "--topic", "adm-console", "--property", "parse.key=true",
            "--property", "key.separator=:", "--property", "parse.headers=true", "--output", "json"], new StringReader(input), o, e);
        Assert.True(code == 0, e.ToString());
        Assert.Equal(4, JsonDocument.Parse(o.ToString()).RootElement.GetProperty("records").GetInt32());

        var records = node.Ok("console-consumer", "--topic", "adm-console", "--from-beginning", "--max-messages", "4", "--timeout-ms", "10000", "--output", "json")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(4, records.Count);
        var byValue = records.ToDictionary(r => r.GetProperty("value").GetString()!);
        Assert.Equal(["again", "hello", "no headers", "world, with comma"], byValue.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("k1", byValue["hello"].GetProperty("key").GetString());
        Assert.Equal([("h1", "v1"), ("h2", "v2")], byValue["hello"].GetProperty("headers").EnumerateArray().Select(h => (h.GetProperty("key").GetString(), h.GetProperty("value").GetString())));
        Assert.Empty(byValue["no headers"].GetProperty("headers").EnumerateArray());
        // Same key, same partition (murmur2), in order.
        Assert.Equal(byValue["hello"].GetProperty("partition").GetInt32(), byValue["again"].GetProperty("partition").GetInt32());
        Assert.True(byValue["again"].GetProperty("offset").GetInt64() > byValue["hello"].GetProperty("offset").GetInt64());

        // Kafka's text format with every print.* property, one partition from offset 0.
        int p = byValue["hello"].GetProperty("partition").GetInt32();
        var (c2, text, err) = node.Fjord("console-consumer", "--topic", "adm-console", "--partition", p.ToString(), "--offset", "0", "--max-messages", "1", "--timeout-ms", "10000",
            "--property", "print.key=true", "--property", "print.headers=true", "--property", "print.timestamp=true",
            "--property", "print.partition=true", "--property", "print.offset=true");
        Assert.Equal(0, c2);
        Assert.Matches($@"^CreateTime:\d+\tPartition:{p}\tOffset:0\th1:v1,h2:v2\tk1\thello\n$", text);
        Assert.Contains("Processed a total of 1 messages", err);

        // Nothing new from the end: stops after --timeout-ms with nothing printed.
        var (c3, none, err3) = node.Fjord("console-consumer", "--topic", "adm-console", "--timeout-ms", "700");
        Assert.Equal(0, c3);
        Assert.Equal("", none);
        Assert.Contains("Processed a total of 0 messages", err3);
    }

    [Fact]
    public void Consumer_groups_reset_describe_delete()
    {
        node.Ok("topics", "--create", "--topic", "adm-cg", "--partitions", "2");
        var e = new StringWriter();
        Assert.Equal(0, ConsoleProducerCommand.Run(["--bootstrap-server", node.Bootstrap, "--topic", "adm-cg", "--partition", "0"], new StringReader("a\nb\nc\n"), new StringWriter(), e) == 0 ? 0 : throw new Xunit.Sdk.XunitException(e.ToString()));
        // Dry run (the default): printed, nothing committed.
        Assert.Matches(@"adm-grp\s+adm-cg\s+0\s+3", node.Ok("consumer-groups", "--reset-offsets", "--group", "adm-grp", "--topic", "adm-cg", "--to-latest"));
        // Execute on a group without members: committed (and the group exists from then on).
        node.Ok("consumer-groups", "--reset-offsets", "--group", "adm-grp", "--topic", "adm-cg:0", "--to-offset", "1", "--execute");
        Assert.Contains("adm-grp", node.Ok("consumer-groups", "--list").Split('\n'));
        string table = node.Ok("consumer-groups", "--describe", "--group", "adm-grp");
        Assert.Matches(@"GROUP\s+TOPIC\s+PARTITION\s+CURRENT-OFFSET\s+LOG-END-OFFSET\s+LAG\s+CONSUMER-ID\s+HOST\s+CLIENT-ID", table);
        Assert.Matches(@"adm-grp\s+adm-cg\s+0\s+1\s+3\s+2\s+-", table);
        var json = Assert.Single(node.Json("consumer-groups", "--describe", "--group", "adm-grp").EnumerateArray());
        Assert.Equal(2, Assert.Single(json.GetProperty("partitions").EnumerateArray()).GetProperty("lag").GetInt64());
        node.Ok("consumer-groups", "--reset-offsets", "--group", "adm-grp", "--topic", "adm-cg:0", "--shift-by", "-5", "--execute"); // clamped to 0
        Assert.Matches(@"adm-grp\s+adm-cg\s+0\s+0\s+3\s+3", node.Ok("consumer-groups", "--describe", "--group", "adm-grp"));
        Assert.Contains("was successful", node.Ok("consumer-groups", "--delete", "--group", "adm-grp"));
        Assert.DoesNotContain("adm-grp", node.Ok("consumer-groups", "--list").Split('\n'));
    }

    [Fact]
    public void Murmur2_matches_kafka()
    {
        // Kafka's Utils.murmur2 values for these keys (its UtilsTest).
        Assert.Equal(-973932308, ConsoleProducerCommand.Murmur2("21"u8));
        Assert.Equal(-790332482, ConsoleProducerCommand.Murmur2("foobar"u8));
        Assert.Equal(-985981536, ConsoleProducerCommand.Murmur2("a-little-bit-long-string"u8));
        Assert.Equal(-1486304829, ConsoleProducerCommand.Murmur2("a-little-bit-longer-string"u8));
        Assert.Equal(-58897971, ConsoleProducerCommand.Murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"u8));
        Assert.Equal(479470107, ConsoleProducerCommand.Murmur2("abc"u8));
        Assert.InRange(ConsoleProducerCommand.Murmur2Partition("foobar"u8, 7), 0, 6);
    }
}
