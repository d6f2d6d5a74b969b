using System.Text.Json.Nodes;
using Fjord.Common;
using Fjord.Raft;
using Fjord.Server.Raft;

namespace Fjord.Server.Tests.Raft;

public sealed class FileQuorumStateStoreTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Missing_file_reads_null()
    {
        Assert.Null(new FileQuorumStateStore(_dir.Path).Read());
        Assert.Null(new FileQuorumStateStore(_dir.Sub("absent")).Read());
    }

    [Fact]
    public void Round_trips_and_overwrites()
    {
        var store = new FileQuorumStateStore(_dir.Path);
        var voted = new ElectionState(3, 2, Uuid.NewRandom(), null);
        store.Write(voted);
        Assert.Equal(voted, new FileQuorumStateStore(_dir.Path).Read());

        var led = new ElectionState(4, null, Uuid.Zero, 1);
        store.Write(led);
        Assert.Equal(led, new FileQuorumStateStore(_dir.Path).Read());
        Assert.False(File.Exists(store.Path + ".tmp"));
    }

    [Fact]
    public void Writes_kafkas_json_format()
    {
        var store = new FileQuorumStateStore(_dir.Path);
        var dirId = Uuid.NewRandom();
        store.Write(new ElectionState(2, 1, dirId, null));
        Assert.Equal(Path.Combine(_dir.Path, "quorum-state"), store.Path);
        var json = JsonNode.Parse(File.ReadAllText(store.Path))!.AsObject();
        Assert.Equal(-1, (int)json["leaderId"]!);
        Assert.Equal(2, (int)json["leaderEpoch"]!);
        Assert.Equal(1, (int)json["votedId"]!);
        Assert.Equal(dirId.ToString(), (string)json["votedDirectoryId"]!);
        Assert.Equal(1, (int)json["data_version"]!);
    }

    [Fact]
    public void Reads_a_kafka_version_0_file()
    {
        _dir.WriteFile("quorum-state",
            """{"clusterId":"","leaderId":1,"leaderEpoch":2,"votedId":-1,"appliedOffset":0,"currentVoters":[],"data_version":0}""");
        Assert.Equal(new ElectionState(2, null, Uuid.Zero, 1), new FileQuorumStateStore(_dir.Path).Read());
    }

    [Fact]
    public void Reads_a_kafka_version_1_file()
    {
        _dir.WriteFile("quorum-state",
            """{"leaderId":-1,"leaderEpoch":2,"votedId":1,"votedDirectoryId":"J8aAPcfLQt2bqs1JT_rMgQ","data_version":1}""");
        Assert.Equal(new ElectionState(2, 1, Uuid.Parse("J8aAPcfLQt2bqs1JT_rMgQ"), null), new FileQuorumStateStore(_dir.Path).Read());
    }

    [Theory]
    [InlineData("")]
    [InlineData("{\"leaderId\":1,\"leaderEp")]
    [InlineData("[1,2]")]
    [InlineData("{\"leaderId\":1,\"leaderEpoch\":2,\"votedId\":-1}")]
    [InlineData("{\"leaderId\":1,\"leaderEpoch\":2,\"votedId\":-1,\"data_version\":7}")]
    [InlineData("{\"leaderId\":\"x\",\"leaderEpoch\":2,\"votedId\":-1,\"data_version\":1}")]
    [InlineData("{\"leaderId\":-1,\"leaderEpoch\":2,\"votedId\":1,\"votedDirectoryId\":\"nope\",\"data_version\":1}")]
    public void Corrupt_file_throws_naming_the_file(string contents)
    {
        var path = _dir.WriteFile("quorum-state", contents);
        var e = Assert.Throws<InvalidDataException>(() => new FileQuorumStateStore(_dir.Path).Read());
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Leftover_tmp_is_ignored()
    {
        var store = new FileQuorumStateStore(_dir.Path);
        _dir.WriteFile("quorum-state.tmp", "{\"leaderId\":9,\"leaderEpoch\":99,");
        Assert.Null(store.Read());

        var state = new ElectionState(5, 1, Uuid.Zero, 1);
        store.Write(state);
        _dir.WriteFile("quorum-state.tmp", "garbage");
        Assert.Equal(state, store.Read());

        store.Write(state with { Epoch = 6 }); // a later write replaces the leftover
        Assert.Equal(6, store.Read()!.Epoch);
        Assert.False(File.Exists(store.Path + ".tmp"));
    }
}
