using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using static Fjord.Controller.Tests.ReplicationControlTests;

namespace Fjord.Controller.Tests;

public sealed class ClientQuotaControlTests
{
    private const string User = ClientQuotaControlManager.User, ClientId = ClientQuotaControlManager.ClientId, Ip = ClientQuotaControlManager.Ip;

    private static AlterClientQuotasRequest.EntryData Entry((string Type, string? Name)[] entity, params (string Key, double Value, bool Remove)[] ops) => new()
    {
        Entity = [.. entity.Select(e => new AlterClientQuotasRequest.EntityData { EntityType = e.Type, EntityName = e.Name })],
        Ops = [.. ops.Select(o => new AlterClientQuotasRequest.OpData { Key = o.Key, Value = o.Value, Remove = o.Remove })],
    };

    private static AlterClientQuotasResponse Alter(ControllerCluster cluster, QuorumController active, bool validateOnly, params AlterClientQuotasRequest.EntryData[] entries) =>
        cluster.Done(active.AlterClientQuotas(new AlterClientQuotasRequest { Entries = [.. entries], ValidateOnly = validateOnly }));

    private static AlterClientQuotasResponse.EntryData AlterOne(ControllerCluster cluster, QuorumController active, AlterClientQuotasRequest.EntryData entry) =>
        Assert.Single(Alter(cluster, active, false, entry).Entries);

    private static ClientQuotaEntity Entity(params (string Type, string? Name)[] parts) => new(parts);

    private static (ControllerCluster, QuorumController) NewActive(int voters = 1)
    {
        var cluster = NewCluster(voters);
        return (cluster, cluster.ElectActive());
    }

    private static Dictionary<string, double> Quotas(ControllerCluster cluster, QuorumController active, ClientQuotaEntity entity) =>
        cluster.Committed(active, s => s.QuotasOf(entity).ToDictionary());

    [Fact]
    public void Quotas_are_set_for_users_client_ids_defaults_and_ips()
    {
        var (cluster, active) = NewActive();
        var response = Alter(cluster, active, false,
            Entry([(User, "alice")], ("producer_byte_rate", 1024, false), ("request_percentage", 12.5, false)),
            Entry([(User, null)], ("consumer_byte_rate", 2048, false)),
            Entry([(ClientId, "app"), (User, "alice")], ("controller_mutation_rate", 0.5, false)),
            Entry([(Ip, "10.0.0.1")], ("connection_creation_rate", 10, false)),
            Entry([(Ip, null)], ("connection_creation_rate", 100, false)));
        Assert.All(response.Entries, e => Assert.Equal((0, (string?)null), (e.ErrorCode, e.ErrorMessage)));
        Assert.Equal([(ClientId, "app"), (User, "alice")], response.Entries[2].Entity.Select(e => (e.EntityType, e.EntityName!)));
        Assert.Null(response.Entries[1].Entity[0].EntityName);

        Assert.Equal(new Dictionary<string, double> { ["producer_byte_rate"] = 1024, ["request_percentage"] = 12.5 }, Quotas(cluster, active, Entity((User, "alice"))));
        Assert.Equal(new Dictionary<string, double> { ["consumer_byte_rate"] = 2048 }, Quotas(cluster, active, Entity((User, null))));
        Assert.Equal(0.5, Quotas(cluster, active, Entity((User, "alice"), (ClientId, "app")))["controller_mutation_rate"]);
        Assert.Equal(10, Quotas(cluster, active, Entity((Ip, "10.0.0.1")))["connection_creation_rate"]);
        Assert.Equal(100, Quotas(cluster, active, Entity((Ip, null)))["connection_creation_rate"]);

        var batch = Batches(cluster.Raft[1])[^1];
        Assert.Equal(6, batch.Count);
        Assert.All(batch, r => Assert.False(Assert.IsType<ClientQuotaRecord>(r).Remove));
    }

    [Fact]
    public void Remove_deletes_and_only_changes_are_written()
    {
        var (cluster, active) = NewActive();
        AlterOne(cluster, active, Entry([(User, "bob")], ("producer_byte_rate", 100, false), ("consumer_byte_rate", 200, false)));
        int batches = Batches(cluster.Raft[1]).Count;
        Assert.Equal(0, AlterOne(cluster, active, Entry([(User, "bob")], ("producer_byte_rate", 100, false), ("request_percentage", 0, true))).ErrorCode);
        Assert.Equal(batches, Batches(cluster.Raft[1]).Count);

        Assert.Equal(0, AlterOne(cluster, active, Entry([(User, "bob")], ("producer_byte_rate", 0, true), ("consumer_byte_rate", 300, false))).ErrorCode);
        var batch = Batches(cluster.Raft[1])[^1].Cast<ClientQuotaRecord>().ToList();
        Assert.Equal([("producer_byte_rate", true), ("consumer_byte_rate", false)], batch.Select(r => (r.Key, r.Remove)));
        Assert.Equal(new Dictionary<string, double> { ["consumer_byte_rate"] = 300 }, Quotas(cluster, active, Entity((User, "bob"))));

        AlterOne(cluster, active, Entry([(User, "bob")], ("consumer_byte_rate", 0, true)));
        Assert.False(cluster.Committed(active, s => s.ClientQuotas.ContainsKey(Entity((User, "bob")))));
    }

    public static TheoryData<string, AlterClientQuotasRequest.EntryData> InvalidEntries => new()
    {
        { "empty entity", Entry([], ("producer_byte_rate", 1, false)) },
        { "unknown entity type", Entry([("group", "g")], ("producer_byte_rate", 1, false)) },
        { "repeated entity type", Entry([(User, "a"), (User, "b")], ("producer_byte_rate", 1, false)) },
        { "ip with user", Entry([(Ip, "10.0.0.1"), (User, "a")], ("connection_creation_rate", 1, false)) },
        { "ip with client-id", Entry([(Ip, null), (ClientId, "c")], ("producer_byte_rate", 1, false)) },
        { "empty name", Entry([(User, "")], ("producer_byte_rate", 1, false)) },
        { "not an ip", Entry([(Ip, "not-an-ip")], ("connection_creation_rate", 1, false)) },
        { "ip key for a user", Entry([(User, "a")], ("connection_creation_rate", 1, false)) },
        { "client key for an ip", Entry([(Ip, "10.0.0.1")], ("producer_byte_rate", 1, false)) },
        { "unknown key", Entry([(User, "a")], ("fetch_rate", 1, false)) },
        { "zero", Entry([(User, "a")], ("producer_byte_rate", 0, false)) },
        { "negative", Entry([(User, "a")], ("request_percentage", -1, false)) },
        { "not integral", Entry([(User, "a")], ("producer_byte_rate", 1.5, false)) },
        { "not an int", Entry([(Ip, "::1")], ("connection_creation_rate", 2.5, false)) },
        { "repeated key", Entry([(User, "a")], ("producer_byte_rate", 1, false), ("producer_byte_rate", 2, false)) },
        { "bad key with good ones", Entry([(User, "a")], ("consumer_byte_rate", 1, false), ("nope", 2, false)) },
    };

    [Theory]
    [MemberData(nameof(InvalidEntries))]
    public void Invalid_entries_are_INVALID_REQUEST_and_write_nothing_for_the_entry(string why, AlterClientQuotasRequest.EntryData entry)
    {
        var (cluster, active) = NewActive();
        var response = Alter(cluster, active, false, entry, Entry([(User, "ok")], ("producer_byte_rate", 5, false)));
        Assert.True((short)ErrorCode.InvalidRequest == response.Entries[0].ErrorCode, why);
        Assert.False(string.IsNullOrEmpty(response.Entries[0].ErrorMessage));
        Assert.Equal(0, response.Entries[1].ErrorCode);
        Assert.Equal(Entity((User, "ok")), Assert.Single(cluster.Committed(active, s => s.ClientQuotas.Keys)));
    }

    [Fact]
    public void The_same_entity_twice_in_a_request_is_INVALID_REQUEST_whatever_the_order_of_its_parts()
    {
        var (cluster, active) = NewActive();
        var response = Alter(cluster, active, false,
            Entry([(User, "a"), (ClientId, "c")], ("producer_byte_rate", 1, false)),
            Entry([(ClientId, "c"), (User, "a")], ("consumer_byte_rate", 1, false)));
        Assert.All(response.Entries, e => Assert.Equal((short)ErrorCode.InvalidRequest, e.ErrorCode));
        Assert.Empty(cluster.Committed(active, s => s.ClientQuotas));
    }

    [Fact]
    public void Validate_only_answers_but_writes_nothing()
    {
        var (cluster, active) = NewActive();
        int batches = Batches(cluster.Raft[1]).Count;
        var response = Alter(cluster, active, true,
            Entry([(User, "a")], ("producer_byte_rate", 1, false)),
            Entry([(User, "a"), (Ip, "1.2.3.4")], ("producer_byte_rate", 1, false)));
        Assert.Equal([(short)0, (short)ErrorCode.InvalidRequest], response.Entries.Select(e => e.ErrorCode));
        Assert.Equal(batches, Batches(cluster.Raft[1]).Count);
        Assert.Empty(cluster.Committed(active, s => s.ClientQuotas));
    }

    // ------------------------------------------------------------------ Describe

    private static DescribeClientQuotasResponse Describe(ControllerCluster cluster, QuorumController active, bool strict, params (string Type, sbyte Match, string? Name)[] components) =>
        cluster.Committed(active, s => ClientQuotaControlManager.Describe(s, new DescribeClientQuotasRequest
        {
            Strict = strict,
            Components = [.. components.Select(c => new DescribeClientQuotasRequest.ComponentData { EntityType = c.Type, MatchType = c.Match, Match = c.Name })],
        }));

    private static List<string> Entities(DescribeClientQuotasResponse response)
    {
        Assert.Equal(0, response.ErrorCode);
        return [.. response.Entries!.Select(e => string.Join(",", e.Entity.Select(p => $"{p.EntityType}={p.EntityName ?? "<default>"}"))).Order(StringComparer.Ordinal)];
    }

    [Fact]
    public void Describe_matches_exact_default_and_any_names()
    {
        var (cluster, active) = NewActive();
        Alter(cluster, active, false,
            Entry([(User, "alice")], ("producer_byte_rate", 1, false)),
            Entry([(User, null)], ("producer_byte_rate", 2, false)),
            Entry([(User, "alice"), (ClientId, "app")], ("producer_byte_rate", 3, false)),
            Entry([(ClientId, null)], ("producer_byte_rate", 4, false)),
            Entry([(Ip, "10.0.0.1")], ("connection_creation_rate", 5, false)));
        const sbyte exact = ClientQuotaControlManager.MatchExact, def = ClientQuotaControlManager.MatchDefault, any = ClientQuotaControlManager.MatchSpecified;

        Assert.Equal(["client-id=app,user=alice", "user=alice"], Entities(Describe(cluster, active, false, (User, exact, "alice"))));
        Assert.Equal(["user=alice"], Entities(Describe(cluster, active, true, (User, exact, "alice"))));
        Assert.Equal(["user=<default>"], Entities(Describe(cluster, active, false, (User, def, null))));
        Assert.Equal(["client-id=app,user=alice", "user=<default>", "user=alice"], Entities(Describe(cluster, active, false, (User, any, null))));
        Assert.Equal(["client-id=app,user=alice"], Entities(Describe(cluster, active, true, (User, any, null), (ClientId, any, null))));
        Assert.Equal(["ip=10.0.0.1"], Entities(Describe(cluster, active, false, (Ip, any, null))));
        Assert.Equal(5, Entities(Describe(cluster, active, false)).Count);
        var values = Assert.Single(Describe(cluster, active, true, (ClientId, def, null)).Entries!).Values;
        Assert.Equal([("producer_byte_rate", 4d)], values.Select(v => (v.Key, v.Value)));
    }

    [Theory]
    [InlineData("user", 0, null, ErrorCode.InvalidRequest)]
    [InlineData("user", 1, "x", ErrorCode.InvalidRequest)]
    [InlineData("user", 2, "x", ErrorCode.InvalidRequest)]
    [InlineData("group", 2, null, ErrorCode.UnsupportedVersion)]
    [InlineData("user", 9, null, ErrorCode.UnsupportedVersion)]
    [InlineData("", 2, null, ErrorCode.InvalidRequest)]
    public void Describe_refuses_bad_filters(string type, sbyte match, string? name, ErrorCode expected)
    {
        var (cluster, active) = NewActive();
        var response = Describe(cluster, active, false, (type, match, name));
        Assert.Equal((short)expected, response.ErrorCode);
        Assert.Null(response.Entries);
    }

    [Fact]
    public void Describe_refuses_repeated_types_and_ip_with_user()
    {
        var (cluster, active) = NewActive();
        Assert.Equal((short)ErrorCode.InvalidRequest, Describe(cluster, active, false, (User, 2, null), (User, 1, null)).ErrorCode);
        Assert.Equal((short)ErrorCode.InvalidRequest, Describe(cluster, active, false, (Ip, 2, null), (User, 1, null)).ErrorCode);
    }

    [Fact]
    public void A_standby_replays_quotas_and_a_snapshot_rebuilds_them()
    {
        var (cluster, active) = NewActive(3);
        Alter(cluster, active, false,
            Entry([(User, "a"), (ClientId, "c")], ("producer_byte_rate", 1, false), ("consumer_byte_rate", 2, false)),
            Entry([(Ip, null)], ("connection_creation_rate", 3, false)));
        Alter(cluster, active, false, Entry([(User, "a"), (ClientId, "c")], ("consumer_byte_rate", 0, true)));
        Assert.True(cluster.Raft.RunUntil(() => cluster.Controllers.Values.All(c => c.LastCommittedOffset >= active.LastCommittedOffset)));

        static string Describe(ControllerState s) => string.Join(";", s.ClientQuotas.OrderBy(q => q.Key.ToString(), StringComparer.Ordinal)
            .Select(q => q.Key + ":" + string.Join(",", q.Value.Select(kv => $"{kv.Key}={kv.Value}"))));
        var expected = Describe(cluster.Committed(active, s => s));
        Assert.Equal("{client-id=c,user=a}:producer_byte_rate=1;{ip=<default>}:connection_creation_rate=3", expected);
        foreach (var c in cluster.Controllers.Values) Assert.Equal(expected, Describe(cluster.Committed(c, s => s)));
        Assert.Equal(expected, Describe(cluster.Committed(active, s => s).ToRecords().Aggregate(ControllerState.Empty, (s, r) => s.Replay(r.Message))));
    }
}
