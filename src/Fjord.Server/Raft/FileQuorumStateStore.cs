using System.Text.Json;
using System.Text.Json.Nodes;
using Fjord.Common;
using Fjord.Raft;
using Fjord.Storage;

namespace Fjord.Server.Raft;

/// <summary>
/// <see cref="IQuorumStateStore"/> as the <c>quorum-state</c> file of the metadata partition
/// directory, in Kafka's format (QuorumStateData as JSON plus <c>data_version</c>), one line:
/// <c>{"leaderId":-1,"leaderEpoch":2,"votedId":1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1}</c>.
/// Writes version 1; reads versions 0 and 1 (-1 means "none" for leaderId and votedId).
/// <see cref="Write"/> goes through <see cref="AtomicFile"/> (temp, fsync, rename, directory fsync),
/// so it returns only once the state is durable; a leftover <c>.tmp</c> is never read.
/// </summary>
public sealed class FileQuorumStateStore : IQuorumStateStore
{
    public const string FileName = "quorum-state";
    public const short LowestSupportedVersion = 0;
    public const short HighestSupportedVersion = 1;

    public FileQuorumStateStore(string directory) => Path = System.IO.Path.Combine(directory, FileName);

    /// <summary>The full path of the <c>quorum-state</c> file.</summary>
    public string Path { get; }

    public ElectionState? Read()
    {
        string text;
        try
        {
            text = File.ReadAllText(Path);
        }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
        try
        {
            return Parse(text);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or InvalidDataException or OverflowException)
        {
            throw new InvalidDataException($"the quorum state file {Path} is corrupt: {e.Message}", e);
        }
    }

    public void Write(ElectionState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var json = new JsonObject
        {
            ["leaderId"] = state.LeaderId ?? -1,
            ["leaderEpoch"] = state.Epoch,
            ["votedId"] = state.VotedId ?? -1,
            ["votedDirectoryId"] = state.VotedDirectoryId.ToString(),
            ["data_version"] = HighestSupportedVersion,
        };
        AtomicFile.WriteText(Path, json.ToJsonString());
    }

    private static ElectionState Parse(string text)
    {
        var line = text.Split('\n', 2)[0];
        if (string.IsNullOrWhiteSpace(line)) throw new InvalidDataException("the file is empty");
        if (JsonNode.Parse(line) is not JsonObject obj) throw new InvalidDataException("not a JSON object");
        var version = Required(obj, "data_version").GetValue<short>();
        if (version < LowestSupportedVersion || version > HighestSupportedVersion)
            throw new InvalidDataException($"data_version ({version}) is not within the min ({LowestSupportedVersion}) and max ({HighestSupportedVersion}) supported version");
        int leaderId = Required(obj, "leaderId").GetValue<int>();
        int epoch = Required(obj, "leaderEpoch").GetValue<int>();
        int votedId = Required(obj, "votedId").GetValue<int>();
        var directoryId = Uuid.Zero;
        if (version >= 1 && obj["votedDirectoryId"] is { } dir)
            directoryId = Uuid.Parse(dir.GetValue<string>());
        if (epoch < 0) throw new InvalidDataException($"negative leaderEpoch {epoch}");
        return new ElectionState(epoch, votedId < 0 ? null : votedId, directoryId, leaderId < 0 ? null : leaderId);
    }

    private static JsonNode Required(JsonObject obj, string name) =>
        obj[name] ?? throw new InvalidDataException($"missing field {name}");
}
