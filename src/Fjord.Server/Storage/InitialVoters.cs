using System.Globalization;
using Fjord.Common;
using Fjord.Protocol.Messages;

namespace Fjord.Server;

/// <summary>One initial controller of a dynamic quorum (KIP-853): <c>id@host:port:directoryId</c>.</summary>
public sealed record InitialVoter(int NodeId, string Host, int Port, Uuid DirectoryId)
{
    public override string ToString() =>
        $"{NodeId.ToString(CultureInfo.InvariantCulture)}@{(Host.Contains(':') ? $"[{Host}]" : Host)}:{Port.ToString(CultureInfo.InvariantCulture)}:{DirectoryId}";
}

/// <summary>
/// The initial voter set of a dynamic quorum, as <c>--initial-controllers</c> spells it (Kafka's
/// <c>DynamicVoters</c>): comma-separated <c>id@host:port:directoryId</c>, a host in brackets when it
/// is an IPv6 literal. <see cref="Parse"/> throws <see cref="StorageFormatException"/> with Kafka's wording.
/// </summary>
public sealed class InitialVoters
{
    private InitialVoters(IReadOnlyList<InitialVoter> voters) => Voters = voters;

    /// <summary>By node id.</summary>
    public IReadOnlyList<InitialVoter> Voters { get; }

    public InitialVoter? Find(int nodeId) => Voters.FirstOrDefault(v => v.NodeId == nodeId);

    public override string ToString() => string.Join(",", Voters);

    public static InitialVoters Of(IEnumerable<InitialVoter> voters)
    {
        var list = voters.OrderBy(v => v.NodeId).ToList();
        if (list.Count == 0) throw new StorageFormatException("No voters given.");
        var duplicate = list.GroupBy(v => v.NodeId).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new StorageFormatException($"Node id {duplicate.Key} was specified more than once.");
        var sharedDirectory = list.GroupBy(v => v.DirectoryId).FirstOrDefault(g => g.Count() > 1);
        if (sharedDirectory is not null) throw new StorageFormatException($"Directory id {sharedDirectory.Key} was specified more than once.");
        return new InitialVoters(list);
    }

    public static InitialVoters Parse(string text) =>
        Of(text.Trim().Split(',').Where(s => s.Length > 0).Select(ParseVoter));

    public static InitialVoter ParseVoter(string text)
    {
        var input = text.Trim();
        int at = input.IndexOf('@', StringComparison.Ordinal);
        if (at < 0) throw Bad(text, "No @ found in dynamic voter string.");
        if (at == 0) throw Bad(text, "Invalid @ at beginning of dynamic voter string.");
        if (!int.TryParse(input[..at], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int nodeId))
            throw Bad(text, "Failed to parse node id in dynamic voter string.");
        if (nodeId < 0) throw Bad(text, $"Invalid negative node id {nodeId} in dynamic voter string.");
        input = input[(at + 1)..];
        if (input.Length == 0) throw Bad(text, "No hostname found after node id.");
        string host;
        if (input.StartsWith('['))
        {
            int close = input.IndexOf(']', StringComparison.Ordinal);
            if (close < 0) throw Bad(text, "Hostname began with left bracket, but no right bracket was found.");
            host = input[1..close];
            input = input[(close + 1)..];
        }
        else
        {
            int colon = input.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0) throw Bad(text, "No colon following hostname could be found.");
            host = input[..colon];
            input = input[colon..];
        }
        if (!input.StartsWith(':')) throw Bad(text, "Port section must start with a colon.");
        input = input[1..];
        int portEnd = input.IndexOf(':', StringComparison.Ordinal);
        if (portEnd < 0) throw Bad(text, "No colon following port could be found.");
        if (!int.TryParse(input[..portEnd], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int port))
            throw Bad(text, "Failed to parse port in dynamic voter string.");
        if (port is < 0 or > 65535) throw Bad(text, $"Invalid port {port} in dynamic voter string.");
        if (!Uuid.TryParse(input[(portEnd + 1)..], out var directoryId) || directoryId.IsZero)
            throw Bad(text, "Failed to parse directory ID in dynamic voter string.");
        return new InitialVoter(nodeId, host, port, directoryId);
    }

    /// <summary>The KRAFT_VOTERS control record for this set: each voter reached on
    /// <paramref name="controllerListenerName"/>, supporting kraft.version 0 to 1.</summary>
    public VotersRecord ToVotersRecord(string controllerListenerName) => new()
    {
        Version = 0,
        Voters = Voters.Select(v => new VotersRecord.Voter
        {
            VoterId = v.NodeId,
            VoterDirectoryId = v.DirectoryId,
            Endpoints = [new VotersRecord.Endpoint { Name = controllerListenerName, Host = v.Host, Port = (ushort)v.Port }],
            KRaftVersionFeature = new VotersRecord.KRaftVersionFeature { MinSupportedVersion = 0, MaxSupportedVersion = 1 },
        }).ToList(),
    };

    private static StorageFormatException Bad(string text, string problem) => new($"Invalid --initial-controllers entry '{text.Trim()}': {problem}");
}
