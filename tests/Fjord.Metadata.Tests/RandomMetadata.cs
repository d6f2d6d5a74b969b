using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Metadata;

namespace Fjord.Metadata.Tests;

/// <summary>A seeded generator of valid metadata record streams: brokers, controllers, topics with
/// partitions and later partition changes, configs, quotas, producer ids, ACLs, SCRAM, tokens, features.</summary>
internal sealed class RandomMetadata(int seed)
{
    private readonly Random _random = new(seed);

    private Uuid NextId() => new(_random.NextInt64(1, long.MaxValue), _random.NextInt64());

    private int[] Pick(int brokers, int count)
    {
        var ids = Enumerable.Range(1, brokers).OrderBy(_ => _random.Next()).Take(count).ToArray();
        return ids;
    }

    public List<IKafkaMessage> Records(int brokers = 12, int topics = 40, int maxPartitions = 30, int changes = 300)
    {
        var records = new List<IKafkaMessage>
        {
            TestRecords.Mv(25),
            TestRecords.Feature("kraft.version", 1),
            TestRecords.Feature("group.version", 1),
        };
        for (int b = 1; b <= brokers; b++)
        {
            var r = TestRecords.Broker(b, epoch: _random.Next(1, 1000), fenced: _random.Next(2) == 0, rack: _random.Next(3) == 0 ? null : $"rack{b % 3}");
            r.InControlledShutdown = _random.Next(5) == 0;
            r.LogDirs = [NextId(), NextId()];
            records.Add(r);
        }
        for (int c = 0; c < 3; c++)
            records.Add(new RegisterControllerRecord
            {
                ControllerId = 3000 + c, IncarnationId = NextId(),
                EndPoints = [new RegisterControllerRecord.ControllerEndpoint { Name = "CONTROLLER", Host = $"c{c}", Port = 9093, SecurityProtocol = 0 }],
                Features = [new RegisterControllerRecord.ControllerFeature { Name = "kraft.version", MinSupportedVersion = 0, MaxSupportedVersion = 1 }],
            });
        var topicIds = new List<(Uuid Id, int Partitions)>();
        for (int t = 0; t < topics; t++)
        {
            var id = NextId();
            int partitions = _random.Next(1, maxPartitions + 1);
            records.Add(TestRecords.Topic($"topic-{t:D4}", id));
            topicIds.Add((id, partitions));
            for (int p = 0; p < partitions; p++)
            {
                var replicas = Pick(brokers, Math.Min(3, brokers));
                var rec = new PartitionRecord
                {
                    TopicId = id, PartitionId = p, Replicas = [.. replicas], Isr = [.. replicas.Take(_random.Next(1, replicas.Length + 1))],
                    Leader = replicas[0], LeaderEpoch = _random.Next(100), PartitionEpoch = _random.Next(100),
                    Directories = [.. replicas.Select(_ => NextId())],
                    EligibleLeaderReplicas = _random.Next(4) == 0 ? [replicas[^1]] : null,
                    LastKnownElr = _random.Next(8) == 0 ? [] : null,
                };
                records.Add(rec);
            }
            if (_random.Next(3) == 0)
                records.Add(new ConfigRecord { ResourceType = ConfigResourceTypes.Topic, ResourceName = $"topic-{t:D4}", Name = "retention.ms", Value = _random.Next().ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }
        for (int i = 0; i < changes; i++)
        {
            var (id, partitions) = topicIds[_random.Next(topicIds.Count)];
            var change = new PartitionChangeRecord { TopicId = id, PartitionId = _random.Next(partitions) };
            switch (_random.Next(4))
            {
                case 0: change.Isr = [.. Pick(brokers, 2)]; break;
                case 1: change.Leader = _random.Next(-1, brokers + 1); break;
                case 2: change.Replicas = [.. Pick(brokers, 3)]; change.Isr = [.. change.Replicas]; break;
                default: change.EligibleLeaderReplicas = [.. Pick(brokers, 1)]; change.LeaderRecoveryState = (sbyte)_random.Next(2); break;
            }
            records.Add(change);
        }
        for (int i = 0; i < 20; i++)
            records.Add(new ConfigRecord { ResourceType = ConfigResourceTypes.Broker, ResourceName = _random.Next(3) == 0 ? "" : $"{_random.Next(1, brokers + 1)}", Name = $"key.{_random.Next(8)}", Value = _random.Next(5) == 0 ? null : $"v{i}" });
        for (int i = 0; i < 15; i++)
        {
            var q = new ClientQuotaRecord { Key = _random.Next(2) == 0 ? "producer_byte_rate" : "request_percentage", Value = _random.NextDouble() * 1e6, Remove = _random.Next(6) == 0 };
            q.Entity.Add(new ClientQuotaRecord.EntityData { EntityType = "user", EntityName = _random.Next(4) == 0 ? null : $"user{_random.Next(5)}" });
            if (_random.Next(2) == 0) q.Entity.Add(new ClientQuotaRecord.EntityData { EntityType = "client-id", EntityName = $"client{_random.Next(3)}" });
            records.Add(q);
        }
        records.Add(new ProducerIdsRecord { BrokerId = 1, BrokerEpoch = 1, NextProducerId = _random.NextInt64(0, 1 << 40) });
        var acls = new List<Uuid>();
        for (int i = 0; i < 25; i++)
        {
            var id = NextId();
            acls.Add(id);
            records.Add(new AccessControlEntryRecord
            {
                Id = id, ResourceType = (sbyte)_random.Next(2, 7), ResourceName = $"res{i}", PatternType = (sbyte)_random.Next(3, 5),
                Principal = $"User:u{i}", Host = "*", Operation = (sbyte)_random.Next(2, 14), PermissionType = (sbyte)_random.Next(2, 4),
            });
        }
        foreach (var id in acls.Where((_, i) => i % 4 == 0)) records.Add(new RemoveAccessControlEntryRecord { Id = id });
        for (int i = 0; i < 10; i++)
            records.Add(new UserScramCredentialRecord
            {
                Name = $"user{i % 6}", Mechanism = (sbyte)_random.Next(1, 3), Iterations = 4096 + i,
                Salt = Bytes(16), StoredKey = Bytes(32), ServerKey = Bytes(32),
            });
        records.Add(new DelegationTokenRecord { TokenId = "token-1", Owner = "User:a", Requester = "User:a", Renewers = ["User:b", "User:c"], IssueTimestamp = 1, MaxTimestamp = 100, ExpirationTimestamp = 50 });
        if (_random.Next(2) == 0 && topicIds.Count > 1) records.Add(new RemoveTopicRecord { TopicId = topicIds[1].Id });
        return records;
    }

    private byte[] Bytes(int n)
    {
        var b = new byte[n];
        _random.NextBytes(b);
        return b;
    }
}
