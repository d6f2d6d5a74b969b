using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;

namespace Fjord.Controller;

/// <summary>
/// Topics and partitions (Kafka's ReplicationControlManager): CreateTopics, DeleteTopics,
/// CreatePartitions, AlterPartition, ElectLeaders, and the leader elections and ISR changes that
/// follow broker fencing, unfencing, controlled shutdown, re-registration and unregistration. The
/// topics live in <see cref="ControllerState"/>; this class only keeps the random source that picks
/// topic ids and where placement starts (<see cref="ControllerConfig.RandomSeed"/>).
/// </summary>
/// <remarks>Runs on the controller's event loop only. Every operation is a function of the state
/// giving records and a response; it replays its own records into a local state as it goes, so
/// later entries of a request see earlier ones.</remarks>
public sealed partial class ReplicationControlManager
{
    public const string UncleanLeaderElectionConfig = "unclean.leader.election.enable";
    public const int MaxTopicNameLength = 249;

    /// <summary>Kafka's DirectoryId.UNASSIGNED / MIGRATING: a replica's log directory is not known yet,
    /// or the broker registered no directories.</summary>
    public static readonly Uuid UnassignedDirectory = Uuid.Zero;
    public static readonly Uuid MigratingDirectory = new(0, 2);

    private readonly ControllerConfig _config;
    private readonly Random _random;

    public ReplicationControlManager(ControllerConfig config)
    {
        _config = config ?? throw new ArgumentNullException(nameof(config));
        _random = config.RandomSeed is { } seed ? new Random(seed) : new Random();
    }

    // ------------------------------------------------------------------ CreateTopics

    public ControllerResult<CreateTopicsResponse> CreateTopics(ControllerState state, CreateTopicsRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var response = new CreateTopicsResponse();
        var records = new List<MetadataRecord>();
        var counts = request.Topics.GroupBy(t => t.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        bool validateOnly = version >= 1 && request.ValidateOnly;
        var current = state;
        foreach (var topic in request.Topics)
        {
            var result = new CreateTopicsResponse.CreatableTopicResult { Name = topic.Name, ErrorMessage = null, Configs = null };
            response.Topics.Add(result);
            if (counts[topic.Name] > 1)
            {
                Fail(result, ErrorCode.InvalidRequest, "Duplicate topic name.");
                continue;
            }
            var (code, message, topicRecords, created) = CreateTopic(current, topic);
            if (code != ErrorCode.None)
            {
                Fail(result, code, message);
                continue;
            }
            // Later topics of the request need to see this one's name and id only (placement and
            // checks read brokers and names): replaying just the TopicRecord spares a replay of every
            // PartitionRecord (QuorumController.Append replays and checks them all before appending).
            current = current.Replay(topicRecords[0].Message);
            if (!validateOnly) records.AddRange(topicRecords);
            result.TopicId = created.Id;
            result.NumPartitions = created.Partitions;
            result.ReplicationFactor = created.Factor;
            result.Configs = [.. topic.Configs.Select(c => new CreateTopicsResponse.CreatableTopicConfigs
            {
                Name = c.Name,
                Value = c.Value,
                ReadOnly = false,
                ConfigSource = 1, // TOPIC_CONFIG
                IsSensitive = false,
            })];
        }
        return new ControllerResult<CreateTopicsResponse>(records, response);

        static void Fail(CreateTopicsResponse.CreatableTopicResult result, ErrorCode code, string message)
        {
            result.ErrorCode = (short)code;
            result.ErrorMessage = message;
            result.NumPartitions = -1;
            result.ReplicationFactor = -1;
        }
    }

    private (ErrorCode, string, List<MetadataRecord>, (Uuid Id, int Partitions, short Factor)) CreateTopic(ControllerState state, CreateTopicsRequest.CreatableTopic topic)
    {
        var (nameError, nameMessage) = ValidateNewTopicName(state, topic.Name);
        if (nameError != ErrorCode.None) return (nameError, nameMessage, [], default);

        // Configs: known topic keys with valid values (ConfigDefinitions), each given once.
        var (configError, configMessage) = ConfigurationControlManager.ValidateNewTopicConfigs(topic.Configs.Select(c => (c.Name, c.Value)));
        if (configError != ErrorCode.None) return (configError, configMessage, [], default);

        List<(int[] Replicas, int[] Isr)> partitions;
        if (topic.Assignments.Count > 0)
        {
            if (topic.NumPartitions != -1 || topic.ReplicationFactor != -1)
                return (ErrorCode.InvalidRequest, "A manual partition assignment was specified, but numPartitions or replicationFactor was not set to -1.", [], default);
            var sorted = topic.Assignments.OrderBy(a => a.PartitionIndex).ToList();
            for (int i = 0; i < sorted.Count; i++)
                if (sorted[i].PartitionIndex != i)
                    return (ErrorCode.InvalidReplicaAssignment, "The manual partition assignment does not number partitions 0, 1, 2, … without gaps or repeats.", [], default);
            partitions = [];
            foreach (var assignment in sorted)
            {
                var (code, message, isr) = ValidateManualAssignment(state, assignment.PartitionIndex, assignment.BrokerIds, sorted[0].BrokerIds.Count);
                if (code != ErrorCode.None) return (code, message, [], default);
                partitions.Add(([.. assignment.BrokerIds], isr));
            }
        }
        else
        {
            int count = topic.NumPartitions == -1 ? _config.DefaultNumPartitions : topic.NumPartitions;
            if (count <= 0) return (ErrorCode.InvalidPartitions, "Number of partitions was set to an invalid non-positive value.", [], default);
            int factor = topic.ReplicationFactor == -1 ? _config.DefaultReplicationFactor : topic.ReplicationFactor;
            if (factor <= 0) return (ErrorCode.InvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value.", [], default);
            var (code, message, placed) = AutoPlace(state, 0, count, factor);
            if (code != ErrorCode.None) return (code, message, [], default);
            partitions = [.. placed!.Select(r => (r, r))];
        }

        var id = NewTopicId(state);
        var mv = state.MetadataVersion ?? MetadataVersion.MinimumKRaftVersion;
        var records = new List<MetadataRecord> { new(new TopicRecord { Name = topic.Name, TopicId = id }, 0) };
        for (int p = 0; p < partitions.Count; p++) records.Add(NewPartitionRecord(state, mv, id, p, partitions[p].Replicas, partitions[p].Isr));
        foreach (var config in topic.Configs)
            records.Add(new MetadataRecord(new ConfigRecord { ResourceType = ConfigResource.TopicType, ResourceName = topic.Name, Name = config.Name, Value = config.Value }, 0));
        return (ErrorCode.None, "", records, (id, partitions.Count, (short)partitions[0].Replicas.Length));
    }

    /// <summary>Kafka's topic name rules: [a-zA-Z0-9._-], 1 to 249 characters, not "." or "..".</summary>
    public static (ErrorCode Code, string Message) ValidateTopicName(string? name)
    {
        if (string.IsNullOrEmpty(name)) return (ErrorCode.InvalidTopicException, "Topic name is illegal, it can't be empty.");
        if (name is "." or "..") return (ErrorCode.InvalidTopicException, "Topic name cannot be \".\" or \"..\".");
        if (name.Length > MaxTopicNameLength)
            return (ErrorCode.InvalidTopicException, $"Topic name is illegal, it can't be longer than {MaxTopicNameLength} characters, topic name: {name}");
        foreach (char c in name)
            if (!(c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '_' or '-'))
                return (ErrorCode.InvalidTopicException, $"Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'");
        return (ErrorCode.None, "");
    }

    private static (ErrorCode, string) ValidateNewTopicName(ControllerState state, string name)
    {
        var (code, message) = ValidateTopicName(name);
        if (code != ErrorCode.None) return (code, message);
        if (state.TopicIds.ContainsKey(name)) return (ErrorCode.TopicAlreadyExists, $"Topic '{name}' already exists.");
        // '.' and '_' collide in metric names: a topic may not differ from another only by them.
        if (ControllerState.UnifiedTopicName(name) is { } unified && state.TopicsByUnifiedName.TryGetValue(unified, out var existing))
            return (ErrorCode.InvalidTopicException, $"Topic '{name}' collides with existing topic: {existing}");
        return (ErrorCode.None, "");
    }

    /// <summary>A manual assignment's checks; the ISR is its replicas that are unfenced and not shutting down.</summary>
    private static (ErrorCode, string, int[]) ValidateManualAssignment(ControllerState state, int partition, IReadOnlyList<int> brokerIds, int expectedFactor)
    {
        if (brokerIds.Count == 0) return (ErrorCode.InvalidReplicaAssignment, $"The manual partition assignment for partition {partition} is empty.", []);
        if (brokerIds.Distinct().Count() != brokerIds.Count)
            return (ErrorCode.InvalidReplicaAssignment, $"The manual partition assignment for partition {partition} names a broker more than once.", []);
        foreach (var b in brokerIds)
            if (!state.Brokers.ContainsKey(b))
                return (ErrorCode.InvalidReplicaAssignment, $"The manual partition assignment includes broker {b}, but no such broker is registered.", []);
        if (brokerIds.Count != expectedFactor)
            return (ErrorCode.InvalidReplicaAssignment,
                $"The manual partition assignment includes a partition with {brokerIds.Count} replica(s), but this is not consistent with previous partitions, which have {expectedFactor} replica(s).", []);
        int[] isr = [.. brokerIds.Where(b => IsUsable(state, b))];
        if (isr.Length == 0)
            return (ErrorCode.InvalidReplicaAssignment,
                $"All brokers specified in the manual partition assignment for partition {partition} are fenced or in controlled shutdown.", []);
        return (ErrorCode.None, "", isr);
    }

    private (ErrorCode, string, List<int[]>?) AutoPlace(ControllerState state, int firstPartition, int count, int factor)
    {
        var usable = state.Brokers.Values.Where(b => !b.Fenced && !b.InControlledShutdown).ToList();
        if (factor > usable.Count)
            return (ErrorCode.InvalidReplicationFactor,
                $"Unable to replicate the partition {factor} time(s): The target replication factor of {factor} cannot be reached because only {usable.Count} broker(s) are registered.", null);
        int start = _random.Next(usable.Count), shift = _random.Next(usable.Count);
        return (ErrorCode.None, "", ReplicaPlacer.Place(usable, firstPartition, count, factor, start, shift));
    }

    private static MetadataRecord NewPartitionRecord(ControllerState state, MetadataVersion mv, Uuid topicId, int partition, int[] replicas, int[] isr)
    {
        short version = ControllerState.PartitionRecordVersion(mv);
        return new MetadataRecord(new PartitionRecord
        {
            PartitionId = partition,
            TopicId = topicId,
            Replicas = [.. replicas],
            Isr = [.. isr],
            Leader = isr[0],
            LeaderRecoveryState = 0,
            LeaderEpoch = 0,
            PartitionEpoch = 0,
            Directories = version >= 1 ? [.. replicas.Select(b => DefaultDirectory(state, b))] : [],
        }, version);
    }

    /// <summary>A new replica's directory: the broker's only directory, MIGRATING when it registered
    /// none, UNASSIGNED when it has several (the broker picks one and reports it).</summary>
    private static Uuid DefaultDirectory(ControllerState state, int brokerId)
    {
        var dirs = state.Brokers[brokerId].LogDirs;
        return dirs.Length switch
        {
            0 => MigratingDirectory,
            1 => dirs[0],
            _ => UnassignedDirectory,
        };
    }

    private Uuid NewTopicId(ControllerState state)
    {
        while (true)
        {
            var id = ControllerIds.RandomUuid(_random);
            if (!state.Topics.ContainsKey(id)) return id;
        }
    }

    // ------------------------------------------------------------------ DeleteTopics

    public ControllerResult<DeleteTopicsResponse> DeleteTopics(ControllerState state, DeleteTopicsRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var entries = version >= 6
            ? request.Topics.Select(t => (t.Name, t.TopicId)).ToList()
            : request.TopicNames.Select(n => ((string?)n, Uuid.Zero)).ToList();
        var nameCounts = entries.Where(e => e.Item1 is not null && e.Item2.IsZero).GroupBy(e => e.Item1!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var idCounts = entries.Where(e => e.Item1 is null && !e.Item2.IsZero).GroupBy(e => e.Item2).ToDictionary(g => g.Key, g => g.Count());
        var response = new DeleteTopicsResponse();
        var records = new List<MetadataRecord>();
        var removed = new HashSet<Uuid>();
        foreach (var (name, id) in entries)
        {
            var result = new DeleteTopicsResponse.DeletableTopicResult { Name = name, TopicId = id, ErrorMessage = null };
            response.Responses.Add(result);
            TopicState? topic = null;
            var (code, message) = (ErrorCode.None, "");
            if (name is not null && !id.IsZero) (code, message) = (ErrorCode.InvalidRequest, "You may not specify both topic name and topic id.");
            else if (name is null && id.IsZero) (code, message) = (ErrorCode.InvalidRequest, "Neither topic name nor id were specified.");
            else if (name is not null && nameCounts[name] > 1) (code, message) = (ErrorCode.InvalidRequest, "Duplicate topic name.");
            else if (name is null && idCounts[id] > 1) (code, message) = (ErrorCode.InvalidRequest, "Duplicate topic id.");
            else if (!_config.DeleteTopicEnable) (code, message) = (ErrorCode.TopicDeletionDisabled, "Topic deletion is disabled.");
            else if (name is not null)
            {
                topic = state.TopicByName(name);
                if (topic is null) (code, message) = (ErrorCode.UnknownTopicOrPartition, $"Unknown topic {name}.");
            }
            else if (!state.Topics.TryGetValue(id, out topic)) (code, message) = (ErrorCode.UnknownTopicId, $"Unknown topic id {id}.");
            if (code != ErrorCode.None)
            {
                result.ErrorCode = (short)code;
                result.ErrorMessage = message;
                continue;
            }
            result.Name = topic!.Name;
            result.TopicId = topic.Id;
            if (removed.Add(topic.Id)) records.Add(new MetadataRecord(new RemoveTopicRecord { TopicId = topic.Id }, 0));
        }
        return new ControllerResult<DeleteTopicsResponse>(records, response);
    }

    // ------------------------------------------------------------------ CreatePartitions

    public ControllerResult<CreatePartitionsResponse> CreatePartitions(ControllerState state, CreatePartitionsRequest request)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var counts = request.Topics.GroupBy(t => t.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var mv = state.MetadataVersion ?? MetadataVersion.MinimumKRaftVersion;
        var response = new CreatePartitionsResponse();
        var records = new List<MetadataRecord>();
        foreach (var topic in request.Topics)
        {
            var (code, message, added) = counts[topic.Name] > 1
                ? (ErrorCode.InvalidRequest, "Duplicate topic name.", null)
                : CreatePartitionsFor(state, mv, topic);
            response.Results.Add(new CreatePartitionsResponse.CreatePartitionsTopicResult
            {
                Name = topic.Name,
                ErrorCode = (short)code,
                ErrorMessage = code == ErrorCode.None ? null : message,
            });
            if (code == ErrorCode.None && !request.ValidateOnly) records.AddRange(added!);
        }
        return new ControllerResult<CreatePartitionsResponse>(records, response);
    }

    private (ErrorCode, string, List<MetadataRecord>?) CreatePartitionsFor(ControllerState state, MetadataVersion mv, CreatePartitionsRequest.CreatePartitionsTopic request)
    {
        var topic = state.TopicByName(request.Name);
        if (topic is null) return (ErrorCode.UnknownTopicOrPartition, $"Unknown topic {request.Name}.", null);
        int existing = topic.Partitions.Count;
        if (request.Count < existing)
            return (ErrorCode.InvalidPartitions, $"The topic {topic.Name} currently has {existing} partition(s); {request.Count} would not be an increase.", null);
        if (request.Count == existing) return (ErrorCode.InvalidPartitions, $"Topic already has {existing} partition(s).", null);
        int adding = request.Count - existing;
        int factor = topic.Partitions.Values.First().Replicas.Length;
        var partitions = new List<(int[] Replicas, int[] Isr)>();
        if (request.Assignments is { } assignments)
        {
            if (assignments.Count != adding)
                return (ErrorCode.InvalidReplicaAssignment, $"Attempted to add {adding} additional partition(s), but only {assignments.Count} assignment(s) were specified.", null);
            for (int i = 0; i < adding; i++)
            {
                var (code, message, isr) = ValidateManualAssignment(state, existing + i, assignments[i].BrokerIds, factor);
                if (code != ErrorCode.None) return (code, message, null);
                partitions.Add(([.. assignments[i].BrokerIds], isr));
            }
        }
        else
        {
            var (code, message, placed) = AutoPlace(state, existing, adding, factor);
            if (code != ErrorCode.None) return (code, message, null);
            partitions.AddRange(placed!.Select(r => (r, r)));
        }
        var records = new List<MetadataRecord>(adding);
        for (int i = 0; i < adding; i++) records.Add(NewPartitionRecord(state, mv, topic.Id, existing + i, partitions[i].Replicas, partitions[i].Isr));
        return (ErrorCode.None, "", records);
    }

    // ------------------------------------------------------------------ elections

    /// <summary>Whether a broker may lead or join an ISR: registered, unfenced, not shutting down.</summary>
    public static bool IsUsable(ControllerState state, int brokerId) =>
        state.Brokers.TryGetValue(brokerId, out var b) && !b.Fenced && !b.InControlledShutdown;

    /// <summary>Whether <paramref name="brokerId"/> leads any partition (controlled shutdown waits until it leads none).</summary>
    public static bool LeadsPartitions(ControllerState state, int brokerId)
    {
        ArgumentNullException.ThrowIfNull(state);
        foreach (var (_, _, p) in state.AllPartitions())
            if (p.Leader == brokerId) return true;
        return false;
    }

    /// <summary>Whether the topic may elect a leader outside its ISR: the topic's config, else the
    /// cluster-wide broker default, else <see cref="ControllerConfig.UncleanLeaderElectionEnable"/>.</summary>
    public bool UncleanAllowed(ControllerState state, string topic)
    {
        ArgumentNullException.ThrowIfNull(state);
        var value = state.ConfigValue(ConfigResource.Topic(topic), UncleanLeaderElectionConfig)
            ?? state.ConfigValue(ConfigResource.ClusterDefault, UncleanLeaderElectionConfig);
        return value is null ? _config.UncleanLeaderElectionEnable : string.Equals(value.Trim(), "true", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The change moving <paramref name="p"/> to ISR <paramref name="targetIsr"/> with a leader
    /// elected for it, or null when nothing changes. The leader stays when it is in the ISR and
    /// usable (unless <paramref name="preferred"/> and the first replica can take over); otherwise
    /// the first usable replica in the ISR (replica order); otherwise, when <paramref name="unclean"/>,
    /// the first usable replica at all (one a reassignment is not still adding, if any), with the
    /// ISR reduced to it and the leader recovering;
    /// otherwise no leader (-1).
    /// </summary>
    internal static PartitionChangeRecord? BuildChange(ControllerState state, Uuid topicId, int partitionId, PartitionState p,
        IReadOnlyList<int> targetIsr, bool preferred, bool unclean)
    {
        var isr = targetIsr.ToList();
        sbyte recovery = p.LeaderRecoveryState;
        int leader;
        int first = p.Replicas[0];
        if (preferred && isr.Contains(first) && IsUsable(state, first)) leader = first;
        else if (p.Leader >= 0 && isr.Contains(p.Leader) && IsUsable(state, p.Leader)) leader = p.Leader;
        else
        {
            leader = p.Replicas.FirstOrDefault(b => isr.Contains(b) && IsUsable(state, b), PartitionState.NoLeader);
            if (leader == PartitionState.NoLeader && unclean)
            {
                // A replica a reassignment is still adding may hold nothing yet: any other one first.
                leader = p.Replicas.FirstOrDefault(b => !p.AddingReplicas.Contains(b) && IsUsable(state, b), PartitionState.NoLeader);
                if (leader == PartitionState.NoLeader) leader = p.Replicas.FirstOrDefault(b => IsUsable(state, b), PartitionState.NoLeader);
                if (leader != PartitionState.NoLeader)
                {
                    isr = [leader];
                    recovery = 1; // RECOVERING: the new leader's log may miss committed records
                }
            }
        }
        var record = new PartitionChangeRecord { TopicId = topicId, PartitionId = partitionId };
        bool changed = false;
        if (!isr.SequenceEqual(p.Isr))
        {
            record.Isr = isr;
            changed = true;
        }
        if (leader != p.Leader)
        {
            record.Leader = leader;
            changed = true;
        }
        if (recovery != p.LeaderRecoveryState)
        {
            record.LeaderRecoveryState = recovery;
            changed = true;
        }
        return changed ? record : null;
    }

    internal static short PartitionChangeRecordVersion(ControllerState state) =>
        ControllerState.PartitionRecordVersion(state.MetadataVersion ?? MetadataVersion.MinimumKRaftVersion);

    /// <summary>
    /// <paramref name="records"/> (a batch of broker lifecycle records) with the partition changes
    /// they call for after each: a broker fenced, unregistered, registered anew (fenced) or entering
    /// controlled shutdown leaves every ISR it is in (an ISR never becomes empty: its last member
    /// stays, without a leader) and every partition it led gets a new leader; a broker unfenced is
    /// elected for leaderless partitions whose ISR holds it. Same batch, so atomic with the cause.
    /// </summary>
    public IReadOnlyList<MetadataRecord> WithBrokerChanges(ControllerState state, IReadOnlyList<MetadataRecord> records)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0 || state.Topics.IsEmpty) return records;
        var output = new List<MetadataRecord>(records.Count);
        var current = state;
        foreach (var record in records)
        {
            output.Add(record);
            current = current.Replay(record.Message);
            var (broker, leaving) = record.Message switch
            {
                FenceBrokerRecord r => (r.Id, true),
                UnregisterBrokerRecord r => (r.BrokerId, true),
                RegisterBrokerRecord r => (r.BrokerId, true),
                BrokerRegistrationChangeRecord { Fenced: 1 } r => (r.BrokerId, true),
                BrokerRegistrationChangeRecord { InControlledShutdown: 1 } r => (r.BrokerId, true),
                BrokerRegistrationChangeRecord { Fenced: -1 } r => (r.BrokerId, false),
                UnfenceBrokerRecord r => (r.Id, false),
                _ => (-1, false),
            };
            if (broker < 0) continue;
            foreach (var change in leaving ? RemoveFromPartitions(current, broker) : ElectUnfenced(current, broker))
            {
                var m = new MetadataRecord(change, PartitionChangeRecordVersion(current));
                output.Add(m);
                current = current.Replay(change);
            }
        }
        return output;
    }

    private List<PartitionChangeRecord> RemoveFromPartitions(ControllerState state, int broker)
    {
        var changes = new List<PartitionChangeRecord>();
        foreach (var (topic, pid, p) in state.AllPartitions())
        {
            if (!p.Isr.Contains(broker) && p.Leader != broker) continue;
            var isr = p.Isr.Remove(broker);
            if (isr.IsEmpty) isr = p.Isr; // never empty: the last member stays (without a leader)
            var change = BuildChange(state, topic.Id, pid, p, isr, preferred: false, unclean: UncleanAllowed(state, topic.Name));
            if (change is not null) changes.Add(change);
        }
        return changes;
    }

    private List<PartitionChangeRecord> ElectUnfenced(ControllerState state, int broker)
    {
        var changes = new List<PartitionChangeRecord>();
        foreach (var (topic, pid, p) in state.AllPartitions())
        {
            if (p.HasLeader || !p.Replicas.Contains(broker)) continue;
            var change = BuildChange(state, topic.Id, pid, p, p.Isr, preferred: true, unclean: UncleanAllowed(state, topic.Name));
            if (change is not null) changes.Add(change);
        }
        return changes;
    }

    // ------------------------------------------------------------------ AlterPartition

    public static ControllerResult<AlterPartitionResponse> AlterPartition(ControllerState state, AlterPartitionRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var response = new AlterPartitionResponse();
        if (ClusterControlManager.CheckBrokerEpoch(state, request.BrokerId, request.BrokerEpoch) != ErrorCode.None)
        {
            response.ErrorCode = (short)ErrorCode.StaleBrokerEpoch;
            return ControllerResult<AlterPartitionResponse>.Of(response);
        }
        var records = new List<MetadataRecord>();
        var current = state;
        foreach (var topicData in request.Topics)
        {
            var topicResult = new AlterPartitionResponse.TopicData { TopicName = topicData.TopicName, TopicId = topicData.TopicId };
            response.Topics.Add(topicResult);
            TopicState? topic = version >= 2
                ? current.Topics.GetValueOrDefault(topicData.TopicId)
                : current.TopicByName(topicData.TopicName);
            foreach (var data in topicData.Partitions)
            {
                var result = new AlterPartitionResponse.PartitionData { PartitionIndex = data.PartitionIndex };
                topicResult.Partitions.Add(result);
                ErrorCode code;
                PartitionChangeRecord? change = null;
                if (topic is null) code = version >= 2 ? ErrorCode.UnknownTopicId : ErrorCode.UnknownTopicOrPartition;
                else if (!topic.Partitions.TryGetValue(data.PartitionIndex, out var partition)) code = ErrorCode.UnknownTopicOrPartition;
                else code = ValidateAlterPartition(current, request.BrokerId, topic.Id, partition, data, version, out change);
                if (code != ErrorCode.None)
                {
                    result.ErrorCode = (short)code;
                    continue;
                }
                if (change is not null)
                {
                    records.Add(new MetadataRecord(change, PartitionChangeRecordVersion(current)));
                    current = current.Replay(change);
                    topic = current.Topics[topic!.Id];
                }
                var now = topic!.Partitions[data.PartitionIndex];
                result.LeaderId = now.Leader;
                result.LeaderEpoch = now.LeaderEpoch;
                result.Isr = [.. now.Isr];
                result.LeaderRecoveryState = now.LeaderRecoveryState;
                result.PartitionEpoch = now.PartitionEpoch;
            }
        }
        return new ControllerResult<AlterPartitionResponse>(records, response);
    }

    private static ErrorCode ValidateAlterPartition(ControllerState state, int brokerId, Uuid topicId, PartitionState p,
        AlterPartitionRequest.PartitionData data, short version, out PartitionChangeRecord? change)
    {
        change = null;
        // Epochs ahead of ours: this controller is behind (no longer active): let the leader retry.
        if (data.LeaderEpoch > p.LeaderEpoch || data.PartitionEpoch > p.PartitionEpoch) return ErrorCode.NotController;
        if (brokerId != p.Leader) return ErrorCode.InvalidRequest;
        if (data.LeaderEpoch < p.LeaderEpoch) return ErrorCode.FencedLeaderEpoch;
        if (data.PartitionEpoch < p.PartitionEpoch) return ErrorCode.InvalidUpdateVersion;
        var newIsr = version >= 3
            ? data.NewIsrWithEpochs.Select(b => (b.BrokerId, b.BrokerEpoch)).ToList()
            : data.NewIsr.Select(b => (b, -1L)).ToList();
        var ids = newIsr.Select(b => b.Item1).ToList();
        if (ids.Count == 0 || !ids.Contains(p.Leader) || ids.Distinct().Count() != ids.Count || ids.Any(b => !p.Replicas.Contains(b)))
            return ErrorCode.InvalidRequest;
        sbyte recovery = version >= 1 ? data.LeaderRecoveryState : (sbyte)0;
        if (recovery is not (0 or 1)) return ErrorCode.InvalidRequest;
        if (recovery == 1 && (p.LeaderRecoveryState == 0 || ids.Count > 1)) return ErrorCode.InvalidRequest;
        foreach (var (id, epoch) in newIsr)
        {
            bool eligible = IsUsable(state, id) && (epoch < 0 || state.Brokers[id].Epoch == epoch);
            if (!eligible) return version >= 1 ? ErrorCode.IneligibleReplica : ErrorCode.OperationNotAttempted;
        }
        var record = new PartitionChangeRecord { TopicId = topicId, PartitionId = data.PartitionIndex };
        bool changed = false;
        if (!ids.SequenceEqual(p.Isr))
        {
            record.Isr = ids;
            changed = true;
        }
        if (recovery != p.LeaderRecoveryState)
        {
            record.LeaderRecoveryState = recovery;
            changed = true;
        }
        if (IsReassigning(p))
        {
            // The ISR now holding every adding replica completes the reassignment in the same record.
            var completed = CompleteReassignmentIfReady(state, p, record, ids);
            if (!ReferenceEquals(completed, record))
            {
                record = completed;
                changed = true;
            }
        }
        if (changed) change = record;
        return ErrorCode.None;
    }

    // ------------------------------------------------------------------ ElectLeaders

    public ControllerResult<ElectLeadersResponse> ElectLeaders(ControllerState state, ElectLeadersRequest request, short version)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var response = new ElectLeadersResponse();
        sbyte type = version >= 1 ? request.ElectionType : (sbyte)0;
        if (type is not (0 or 1))
        {
            response.ErrorCode = (short)ErrorCode.InvalidRequest;
            return ControllerResult<ElectLeadersResponse>.Of(response);
        }
        bool all = request.TopicPartitions is null;
        var wanted = all
            ? state.AllPartitions().GroupBy(x => x.Topic.Name, StringComparer.Ordinal).Select(g => (g.Key, g.Select(x => x.PartitionId).ToList())).ToList()
            : request.TopicPartitions!.Select(t => (t.Topic, t.Partitions)).ToList();
        var records = new List<MetadataRecord>();
        var current = state;
        foreach (var (name, partitions) in wanted)
        {
            var topicResult = new ElectLeadersResponse.ReplicaElectionResult { Topic = name };
            foreach (int pid in partitions)
            {
                var topic = current.TopicByName(name);
                var (code, message) = (ErrorCode.None, (string?)null);
                if (topic is null || !topic.Partitions.TryGetValue(pid, out var p))
                    (code, message) = (ErrorCode.UnknownTopicOrPartition, $"Unknown partition {name}-{pid}.");
                else if (type == 0)
                {
                    int preferred = p.Replicas[0];
                    if (p.Leader == preferred) (code, message) = (ErrorCode.ElectionNotNeeded, "The preferred replica is the leader already.");
                    else if (!p.Isr.Contains(preferred) || !IsUsable(current, preferred))
                        (code, message) = (ErrorCode.PreferredLeaderNotAvailable, $"The preferred replica {preferred} is not in the ISR or not available.");
                    else
                    {
                        var change = BuildChange(current, topic.Id, pid, p, p.Isr, preferred: true, unclean: false)!;
                        records.Add(new MetadataRecord(change, PartitionChangeRecordVersion(current)));
                        current = current.Replay(change);
                    }
                }
                else if (p.HasLeader) (code, message) = (ErrorCode.ElectionNotNeeded, "The partition has a leader.");
                else
                {
                    var change = BuildChange(current, topic.Id, pid, p, p.Isr, preferred: false, unclean: true);
                    if (change is null || change.Leader < 0)
                        (code, message) = (ErrorCode.EligibleLeadersNotAvailable, "No replica of the partition is available.");
                    else
                    {
                        records.Add(new MetadataRecord(change, PartitionChangeRecordVersion(current)));
                        current = current.Replay(change);
                    }
                }
                if (all && code != ErrorCode.None) continue; // electing everything: report only the partitions elected
                topicResult.PartitionResult.Add(new ElectLeadersResponse.PartitionResult { PartitionId = pid, ErrorCode = (short)code, ErrorMessage = message });
            }
            if (topicResult.PartitionResult.Count > 0 || !all) response.ReplicaElectionResults.Add(topicResult);
        }
        return new ControllerResult<ElectLeadersResponse>(records, response) { IsAtomic = false }; // each change stands alone
    }
}
