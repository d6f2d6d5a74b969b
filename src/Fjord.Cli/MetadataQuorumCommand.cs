using Fjord.Common;
using Fjord.Protocol;
using Fjord.Protocol.Messages;
using Fjord.Server;

namespace Fjord.Cli;

/// <summary>
/// <c>fjord metadata-quorum</c>: what <c>kafka-metadata-quorum</c> does, over the controller
/// listener. Every command connects to a bootstrap controller, learns the cluster id and the active
/// controller (the Raft leader) from DescribeCluster, and asks the leader (following the leader named
/// by a controller that is not it): <c>describe --status</c> / <c>--replication</c> send
/// DescribeQuorum; <c>add-controller</c> sends AddRaftVoter for the controller a configuration file
/// describes (<see cref="ControllerToAdd"/>); <c>remove-controller</c> sends RemoveRaftVoter.
/// Exit codes: 0 done, 1 failed (one line on stderr), 2 bad usage.
/// </summary>
internal static class MetadataQuorumCommand
{
    /// <summary>A controller answered, but with an error (or without an API the command needs): not retried.</summary>
    private sealed class MetadataQuorumException(string message, Exception? inner = null) : Exception(message, inner);

    private const string Usage = """
        usage: fjord metadata-quorum --bootstrap-controller HOST:PORT[,HOST:PORT...] <command>

        Describes and changes the KRaft metadata quorum, as kafka-metadata-quorum does.
          --bootstrap-controller HOST:PORT,...  controllers to ask first (any of them; the leader is found from there)

        commands:
          describe --status                     a summary: cluster id, leader, epoch, high watermark, lags, voters, observers
          describe --replication                one row per voter and observer: log end offset, lag, last fetch and catch-up times
              --human-readable                  timestamps as "N ms ago"
          (describe) --output table|json        json: the same fields as one object (--status) or an array of rows (--replication)
          add-controller --command-config FILE  make a controller a voter of a dynamic quorum (KIP-853). FILE is that
                                                controller's server.properties: its node.id, its controller listener
                                                (advertised.listeners, else listeners) and the directory id in
                                                meta.properties of its metadata.log.dir. The controller must be running
                                                and fetching as an observer (formatted with --no-initial-controllers).
          remove-controller --controller-id ID --controller-directory-id UUID
                                                remove a voter from a dynamic quorum
        A leader not ready for a change yet (the previous change is not committed, or the new controller
        has not caught up) is asked again for up to 30 s.
        """;

    /// <summary>How long a describe may take in all (the leader may be being elected), and each request.</summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);
    /// <summary>How long a voter change may take in all, retries of REQUEST_TIMED_OUT included.</summary>
    private static readonly TimeSpan VoterChangeDeadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);
    private const int RetryDelayMs = 100;
    private const int VoterChangeRetryDelayMs = 250;
    private const string ClientId = "fjord-metadata-quorum";

    public static int Run(string[] args, TextWriter o, TextWriter e)
    {
        if (args.Length == 0) return UsageError(e, "--bootstrap-controller HOST:PORT and a command (describe, add-controller, remove-controller) are needed");
        if (args.Contains("--help") || args.Contains("-h") || args[0] == "help")
        {
            o.WriteLine(Usage);
            return 0;
        }
        string? bootstrap = null, command = null, commandConfig = null, controllerIdText = null, directoryIdText = null, output = null;
        bool status = false, replication = false, humanReadable = false, viaBroker = false;
        for (int i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            string? inline = null;
            int eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0) (arg, inline) = (arg[..eq], arg[(eq + 1)..]);
            switch (arg)
            {
                case "--bootstrap-controller":
                    if (!Value(ref i, "HOST:PORT[,HOST:PORT...]", out bootstrap)) return UsageError(e, "--bootstrap-controller needs HOST:PORT[,HOST:PORT...]");
                    break;
                case "--command-config":
                    if (!Value(ref i, "FILE", out commandConfig)) return UsageError(e, "--command-config needs a FILE");
                    break;
                case "--controller-id":
                    if (!Value(ref i, "ID", out controllerIdText)) return UsageError(e, "--controller-id needs a node id");
                    break;
                case "--controller-directory-id":
                    if (!Value(ref i, "UUID", out directoryIdText)) return UsageError(e, "--controller-directory-id needs a directory id");
                    break;
                case "--bootstrap-server":
                    if (!Value(ref i, "HOST:PORT[,HOST:PORT...]", out bootstrap)) return UsageError(e, "--bootstrap-server needs HOST:PORT[,HOST:PORT...]");
                    viaBroker = true;
                    break;
                case "--output":
                    if (!Value(ref i, "table|json", out output) || output is not ("table" or "json")) return UsageError(e, "--output needs table or json");
                    break;
                case "--status": status = true; break;
                case "--replication": replication = true; break;
                case "--human-readable": humanReadable = true; break;
                case "describe" or "add-controller" or "remove-controller" when command is null: command = arg; break;
                default:
                    return UsageError(e, arg.StartsWith('-') ? $"unknown option '{arg}'"
                        : command is null ? $"unknown command '{arg}' (describe, add-controller or remove-controller)"
                        : $"unexpected argument '{arg}'");
            }

            bool Value(ref int index, string what, out string? value)
            {
                value = inline ?? (index + 1 < args.Length ? args[++index] : null);
                return value is not null;
            }
        }
        if (bootstrap is null) return UsageError(e, "--bootstrap-controller HOST:PORT or --bootstrap-server HOST:PORT is required");
        if (viaBroker && command is not null and not "describe")
            return UsageError(e, $"{command} needs --bootstrap-controller (brokers answer describe only)");
        if (command is null) return UsageError(e, "a command is needed: describe, add-controller or remove-controller");
        if (command != "describe" && (status || replication || humanReadable))
            return UsageError(e, $"--status, --replication and --human-readable go with describe, not {command}");
        if (command != "remove-controller" && (controllerIdText is not null || directoryIdText is not null))
            return UsageError(e, $"--controller-id and --controller-directory-id go with remove-controller, not {command}");
        if (command == "describe")
        {
            // Kafka's messages for the describe flags.
            if (status && replication) return UsageError(e, "Only one of --status or --replication should be specified with describe sub-command");
            if (!status && !replication) return UsageError(e, "One of --status or --replication must be specified with describe sub-command");
            if (status && humanReadable) return UsageError(e, "The option --human-readable is only supported along with --replication");
            if (humanReadable && output == "json") return UsageError(e, "--human-readable is for the table; --output json gives Unix milliseconds");
        }
        if (command == "add-controller" && commandConfig is null)
            return UsageError(e, "You must supply the configuration file of the controller you are adding when using add-controller (--command-config FILE).");
        int controllerId = 0;
        Uuid directoryId = Uuid.Zero;
        if (command == "remove-controller")
        {
            if (controllerIdText is null) return UsageError(e, "remove-controller needs --controller-id ID");
            if (directoryIdText is null) return UsageError(e, "remove-controller needs --controller-directory-id UUID");
            if (!int.TryParse(controllerIdText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out controllerId))
                return UsageError(e, $"--controller-id: '{controllerIdText}' is not a node id (a number, 0 or more)");
            if (!Uuid.TryParse(directoryIdText, out directoryId) || directoryId.IsZero)
                return UsageError(e, $"--controller-directory-id: '{directoryIdText}' is not a directory id (a Kafka Uuid, e.g. from 'fjord storage info')");
        }

        var addresses = new List<HostPort>();
        foreach (var text in bootstrap.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!HostPort.TryParse(text, out var address, out var problem))
                return UsageError(e, $"--bootstrap-controller: '{text}' is not HOST:PORT ({problem})");
            addresses.Add(address);
        }
        if (addresses.Count == 0) return UsageError(e, "--bootstrap-controller needs at least one HOST:PORT");

        try
        {
            switch (command)
            {
                case "add-controller":
                    var controller = ControllerToAdd.Read(commandConfig!);
                    AddControllerAsync(addresses, controller, CancellationToken.None).GetAwaiter().GetResult();
                    o.WriteLine($"Added controller {controller.NodeId} with directory id {controller.DirectoryId} and endpoints: {string.Join(", ", controller.Endpoints)}");
                    return 0;
                case "remove-controller":
                    RemoveControllerAsync(addresses, controllerId, directoryId, CancellationToken.None).GetAwaiter().GetResult();
                    o.WriteLine($"Removed KRaft controller {controllerId} with directory id {directoryId}");
                    return 0;
                default:
                    var (clusterId, quorum) = (viaBroker ? DescribeViaBrokerAsync(addresses, CancellationToken.None) : DescribeAsync(addresses, CancellationToken.None))
                        .GetAwaiter().GetResult();
                    if (output == "json") Admin.AdminOutput.Json(o, status ? QuorumReport.StatusJson(clusterId, quorum) : QuorumReport.ReplicationJson(quorum));
                    else o.Write(status
                        ? QuorumReport.Status(clusterId, quorum)
                        : QuorumReport.Replication(quorum, humanReadable, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
                    return 0;
            }
        }
        catch (Exception ex) when (ex is KafkaClientException or MetadataQuorumException or FormatException or ControllerToAddException)
        {
            e.WriteLine($"fjord: {OneLine(ex.Message)}");
            return 1;
        }
    }

    private static string OneLine(string text) => text.Replace("\r", " ", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    /// <summary>
    /// The cluster id and the leader's DescribeQuorum answer: DescribeCluster at a bootstrap
    /// controller for the cluster id and the leader, then DescribeQuorum at the leader; a
    /// NOT_LEADER_OR_FOLLOWER answer or an unknown leader (an election under way) is retried until
    /// <see cref="Deadline"/>.
    /// </summary>
    public static async Task<(string ClusterId, DescribeQuorumResponse Quorum)> DescribeAsync(IReadOnlyList<HostPort> bootstrap, CancellationToken cancellationToken)
    {
        using var session = new Session(bootstrap, Deadline);
        int? target = null;
        while (true)
        {
            var (clusterId, leaderId, leader) = await session.LeaderAsync(target, cancellationToken).ConfigureAwait(false);
            DescribeQuorumResponse quorum;
            try
            {
                quorum = await leader.DescribeQuorumAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (KafkaClientException ex)
            {
                // The leader may just have died: forget the connection and ask again who leads.
                session.Drop(leader, ex.Message);
                target = null;
                await Task.Delay(RetryDelayMs, cancellationToken).ConfigureAwait(false);
                continue;
            }
            var partition = quorum.Topics is [{ Partitions: [var p] }] ? p : null;
            short error = quorum.ErrorCode != 0 ? quorum.ErrorCode : partition?.ErrorCode ?? 0;
            if (error == 0 && partition is not null) return (clusterId, quorum);
            if (error != (short)ErrorCode.NotLeaderOrFollower)
                throw new MetadataQuorumException($"DescribeQuorum at {leader.Client.Address} failed: {Describe(error)}");
            session.Problem = $"{leader.Client.Address} is not the leader (it knows leader {partition?.LeaderId ?? -1} in epoch {partition?.LeaderEpoch ?? -1})";
            target = partition is { LeaderId: >= 0 } && partition.LeaderId != leaderId ? partition.LeaderId : null;
            if (target is null) await Task.Delay(RetryDelayMs, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>AddRaftVoter at the leader for <paramref name="controller"/>, answered once the new voter set is committed.</summary>
    /// <summary>
    /// The cluster id and the quorum as a broker reports them: DescribeCluster (brokers) for the
    /// cluster id, then DescribeQuorum, which the broker forwards to the active controller.
    /// </summary>
    public static async Task<(string ClusterId, DescribeQuorumResponse Quorum)> DescribeViaBrokerAsync(IReadOnlyList<HostPort> bootstrap, CancellationToken cancellationToken)
    {
        var connections = new Dictionary<string, Connection>();
        try
        {
            var broker = await ConnectAnyAsync(bootstrap, connections, cancellationToken).ConfigureAwait(false);
            var cluster = await broker.DescribeClusterAsync(cancellationToken, endpointType: 1).ConfigureAwait(false);
            var quorum = await broker.DescribeQuorumAsync(cancellationToken).ConfigureAwait(false);
            var partition = quorum.Topics is [{ Partitions: [var p] }] ? p : null;
            short error = quorum.ErrorCode != 0 ? quorum.ErrorCode : partition?.ErrorCode ?? 0;
            if (error != 0 || partition is null)
                throw new MetadataQuorumException($"DescribeQuorum through {broker.Client.Address} failed: {Describe(error)}");
            return (cluster.ClusterId, quorum);
        }
        finally
        {
            foreach (var connection in connections.Values) connection.Client.Dispose();
        }
    }

    public static Task AddControllerAsync(IReadOnlyList<HostPort> bootstrap, ControllerToAdd controller, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(controller);
        return ChangeVotersAsync(bootstrap, AddRaftVoterRequest.ApiKey, (leader, ct) =>
        {
            var request = new AddRaftVoterRequest
            {
                ClusterId = controller.ClusterId,
                TimeoutMs = (int)RequestTimeout.TotalMilliseconds,
                VoterId = controller.NodeId,
                VoterDirectoryId = controller.DirectoryId,
                AckWhenCommitted = true,
            };
            foreach (var endpoint in controller.Endpoints)
                request.Listeners.Add(new AddRaftVoterRequest.Listener { Name = endpoint.Name, Host = endpoint.Host, Port = (ushort)endpoint.Port });
            return leader.VoterChangeAsync<AddRaftVoterResponse>(request, lowest: 0, r => (r.ErrorCode, r.ErrorMessage), ct);
        }, cancellationToken);
    }

    /// <summary>RemoveRaftVoter at the leader, answered once the new voter set is committed.</summary>
    public static Task RemoveControllerAsync(IReadOnlyList<HostPort> bootstrap, int controllerId, Uuid directoryId, CancellationToken cancellationToken) =>
        ChangeVotersAsync(bootstrap, RemoveRaftVoterRequest.ApiKey, (leader, ct) =>
            leader.VoterChangeAsync<RemoveRaftVoterResponse>(new RemoveRaftVoterRequest { ClusterId = null, VoterId = controllerId, VoterDirectoryId = directoryId },
                lowest: 0, r => (r.ErrorCode, r.ErrorMessage), ct), cancellationToken);

    /// <summary>
    /// Sends a voter change to the leader until it is answered: NOT_LEADER_OR_FOLLOWER (the leader
    /// changed) and REQUEST_TIMED_OUT (the leader is not ready: no high watermark in its epoch yet,
    /// the previous change uncommitted, the new controller not caught up) are asked again until
    /// <see cref="VoterChangeDeadline"/>; any other error fails with its code and message. A request
    /// that gets no answer at all is not sent again (it may have taken effect).
    /// </summary>
    private static async Task ChangeVotersAsync(IReadOnlyList<HostPort> bootstrap, short apiKey,
        Func<Connection, CancellationToken, Task<(short Error, string? Message)>> send, CancellationToken cancellationToken)
    {
        string api = KafkaApis.Find(apiKey)!.Name;
        using var session = new Session(bootstrap, VoterChangeDeadline);
        while (true)
        {
            var (_, _, leader) = await session.LeaderAsync(null, cancellationToken).ConfigureAwait(false);
            var (error, message) = await send(leader, cancellationToken).ConfigureAwait(false);
            if (error == 0) return;
            string text = $"{api} at {leader.Client.Address} failed: {ErrorName(error)}: {(string.IsNullOrEmpty(message) ? Describe(error) : message)}";
            if (error is not ((short)ErrorCode.NotLeaderOrFollower or (short)ErrorCode.RequestTimedOut)) throw new MetadataQuorumException(text);
            if (session.Expired) throw new MetadataQuorumException($"{text} (asked for {VoterChangeDeadline.TotalSeconds:0} s)");
            session.Problem = text;
            if (error == (short)ErrorCode.NotLeaderOrFollower) session.Drop(leader, text);
            await Task.Delay(VoterChangeRetryDelayMs, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Kafka's name of an error code: DUPLICATE_VOTER.</summary>
    internal static string ErrorName(short code)
    {
        if (!Enum.IsDefined((ErrorCode)code)) return $"error code {code}";
        var name = ((ErrorCode)code).ToString();
        var s = new System.Text.StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            if (i > 0 && char.IsUpper(name[i]) && (char.IsLower(name[i - 1]) || char.IsDigit(name[i - 1]) || (i + 1 < name.Length && char.IsLower(name[i + 1]))))
                s.Append('_');
            s.Append(char.ToUpperInvariant(name[i]));
        }
        return s.ToString();
    }

    /// <summary>
    /// The connections of one command and how it finds the leader: the first bootstrap controller
    /// that answers is asked (DescribeCluster) who leads and where; a bootstrap connection that fails
    /// is replaced by another, and every failure is retried until the deadline.
    /// </summary>
    private sealed class Session(IReadOnlyList<HostPort> bootstrap, TimeSpan deadline) : IDisposable
    {
        private readonly Dictionary<string, Connection> _connections = new(StringComparer.OrdinalIgnoreCase);
        private readonly long _deadline = Environment.TickCount64 + (long)deadline.TotalMilliseconds;
        private Connection? _first;
        private bool _connected;

        /// <summary>Why the last attempt did not succeed (in the message when the deadline passes).</summary>
        public string Problem { get; set; } = "";

        public bool Expired => Environment.TickCount64 > _deadline;

        /// <summary>The cluster id and a connection to the leader (<paramref name="hint"/>: a leader another controller named).</summary>
        public async Task<(string ClusterId, int LeaderId, Connection Leader)> LeaderAsync(int? hint, CancellationToken cancellationToken)
        {
            int? target = hint;
            bool firstRound = true;
            while (true)
            {
                if (!firstRound) await Task.Delay(RetryDelayMs, cancellationToken).ConfigureAwait(false);
                firstRound = false;
                if (Expired)
                    throw new KafkaClientException($"no leader of the metadata quorum answered within {deadline.TotalSeconds:0} s: {Problem}");
                DescribeClusterResponse cluster;
                try
                {
                    _first ??= await ConnectAnyAsync(bootstrap, _connections, cancellationToken).ConfigureAwait(false);
                    _connected = true;
                    cluster = await _first.DescribeClusterAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (KafkaClientException ex)
                {
                    // No bootstrap controller ever answered: that is the answer. Otherwise the one we
                    // asked may just have died: ask the others.
                    if (!_connected) throw;
                    if (_first is not null) Drop(_first, ex.Message);
                    Problem = ex.Message;
                    continue;
                }
                target ??= cluster.ControllerId >= 0 ? cluster.ControllerId : null;
                if (target is not { } leaderId)
                {
                    Problem = $"{_first.Client.Address} knows no leader yet";
                    continue;
                }
                if (cluster.Brokers.FirstOrDefault(b => b.BrokerId == leaderId) is not { } endpoint)
                {
                    Problem = $"the leader {leaderId} is not among the controllers {_first.Client.Address} lists";
                    target = null;
                    continue;
                }
                var address = new HostPort(endpoint.Host, endpoint.Port);
                try
                {
                    return (cluster.ClusterId, leaderId, await ConnectAsync(address, _connections, cancellationToken).ConfigureAwait(false));
                }
                catch (KafkaClientException ex)
                {
                    // The leader may just have died: ask again who leads.
                    Problem = ex.Message;
                    target = null;
                }
            }
        }

        /// <summary>Forgets a connection that failed (or whose node no longer leads).</summary>
        public void Drop(Connection connection, string problem)
        {
            Problem = problem;
            var key = _connections.FirstOrDefault(kv => kv.Value == connection).Key;
            if (key is not null) _connections.Remove(key);
            if (connection == _first) _first = null;
            connection.Client.Dispose();
        }

        public void Dispose()
        {
            foreach (var connection in _connections.Values) connection.Client.Dispose();
            _connections.Clear();
        }
    }

    private static string Describe(short code) =>
        Enum.IsDefined((ErrorCode)code) ? $"{(ErrorCode)code} ({((ErrorCode)code).Describe()})" : $"error code {code}";

    private static async Task<Connection> ConnectAnyAsync(IReadOnlyList<HostPort> addresses, Dictionary<string, Connection> connections, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        foreach (var address in addresses)
        {
            try
            {
                return await ConnectAsync(address, connections, cancellationToken).ConfigureAwait(false);
            }
            catch (KafkaClientException ex)
            {
                problems.Add(ex.Message);
            }
        }
        throw new KafkaClientException(problems.Count == 1 ? problems[0] : $"no bootstrap controller answered: {string.Join("; ", problems)}");
    }

    private static async Task<Connection> ConnectAsync(HostPort address, Dictionary<string, Connection> connections, CancellationToken cancellationToken)
    {
        if (connections.TryGetValue(address.ToString(), out var open)) return open;
        var client = await KafkaClient.ConnectAsync(address.Host, address.Port, ClientId, RequestTimeout, cancellationToken).ConfigureAwait(false);
        try
        {
            var connection = await Connection.NegotiateAsync(client, cancellationToken).ConfigureAwait(false);
            connections[address.ToString()] = connection;
            return connection;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>A connection and the API versions its ApiVersions answer lists.</summary>
    private sealed record Connection(KafkaClient Client, ApiVersionsResponse Versions)
    {
        public static async Task<Connection> NegotiateAsync(KafkaClient client, CancellationToken cancellationToken)
        {
            var ours = KafkaApis.Find(ApiVersionsRequest.ApiKey)!.Versions.Highest;
            var request = new ApiVersionsRequest
            {
                ClientSoftwareName = ClientId,
                ClientSoftwareVersion = typeof(MetadataQuorumCommand).Assembly.GetName().Version?.ToString() ?? "0",
            };
            var answer = await client.SendAsync<ApiVersionsResponse>(request, ours, cancellationToken).ConfigureAwait(false);
            if (answer.ErrorCode == (short)ErrorCode.UnsupportedVersion && answer.ApiKeys.FirstOrDefault(k => k.ApiKey == ApiVersionsRequest.ApiKey) is { } theirs)
                answer = await client.SendAsync<ApiVersionsResponse>(request, Math.Min(ours, theirs.MaxVersion), cancellationToken).ConfigureAwait(false);
            if (answer.ErrorCode != 0) throw new MetadataQuorumException($"ApiVersions at {client.Address} failed: {Describe(answer.ErrorCode)}");
            return new Connection(client, answer);
        }

        /// <summary>The highest version of <paramref name="apiKey"/> both sides know, at least <paramref name="lowest"/>.</summary>
        private short Agree(short apiKey, short lowest)
        {
            var api = KafkaApis.Find(apiKey)!;
            var theirs = Versions.ApiKeys.FirstOrDefault(k => k.ApiKey == apiKey)
                ?? throw new MetadataQuorumException($"{Client.Address} does not serve {api.Name} (is it a controller listener?)");
            short version = Math.Min(api.Versions.Highest, theirs.MaxVersion);
            if (version < Math.Max(lowest, theirs.MinVersion))
                throw new MetadataQuorumException($"{Client.Address} serves {api.Name} only at versions {theirs.MinVersion}-{theirs.MaxVersion}");
            return version;
        }

        public async Task<DescribeClusterResponse> DescribeClusterAsync(CancellationToken cancellationToken, sbyte endpointType = 2)
        {
            var request = new DescribeClusterRequest { EndpointType = endpointType };
            short version = Agree(DescribeClusterRequest.ApiKey, lowest: endpointType == 1 ? (short)0 : (short)1); // v1+: EndpointType (controllers)
            var answer = await Client.SendAsync<DescribeClusterResponse>(request, version, cancellationToken).ConfigureAwait(false);
            if (answer.ErrorCode != 0)
                throw new MetadataQuorumException($"DescribeCluster at {Client.Address} failed: {Describe(answer.ErrorCode)}{(answer.ErrorMessage is { } m ? $": {m}" : "")}");
            return answer;
        }

        public Task<DescribeQuorumResponse> DescribeQuorumAsync(CancellationToken cancellationToken)
        {
            var request = new DescribeQuorumRequest();
            var topic = new DescribeQuorumRequest.TopicData { TopicName = "__cluster_metadata" };
            topic.Partitions.Add(new DescribeQuorumRequest.PartitionData { PartitionIndex = 0 });
            request.Topics.Add(topic);
            return Client.SendAsync<DescribeQuorumResponse>(request, Agree(DescribeQuorumRequest.ApiKey, lowest: 0), cancellationToken);
        }

        /// <summary>Sends AddRaftVoter / RemoveRaftVoter and returns the answer's error code and message. A request
        /// that gets no answer is reported as such: it may or may not have taken effect.</summary>
        public async Task<(short Error, string? Message)> VoterChangeAsync<TResponse>(IKafkaMessage request, short lowest,
            Func<TResponse, (short, string?)> result, CancellationToken cancellationToken) where TResponse : class, IKafkaMessage
        {
            short version = Agree(request.MessageApiKey, lowest);
            try
            {
                return result(await Client.SendAsync<TResponse>(request, version, cancellationToken).ConfigureAwait(false));
            }
            catch (KafkaClientException ex)
            {
                throw new MetadataQuorumException($"{ex.Message}; the change may or may not have been made: see 'describe --status'", ex);
            }
        }
    }

    private static int UsageError(TextWriter e, string message)
    {
        e.WriteLine($"fjord metadata-quorum: {message}");
        e.WriteLine("Run 'fjord metadata-quorum --help' for usage.");
        return 2;
    }
}
