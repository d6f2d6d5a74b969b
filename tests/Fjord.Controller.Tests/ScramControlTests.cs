using System.Security.Cryptography;
using System.Text;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;
using static Fjord.Controller.Tests.ReplicationControlTests;

namespace Fjord.Controller.Tests;

public sealed class ScramControlTests
{
    private const sbyte Sha256 = ScramControlManager.ScramSha256, Sha512 = ScramControlManager.ScramSha512;

    private static readonly byte[] Salt = Convert.FromBase64String("W22ZaJ0SNY7soEsUEjb6gQ==");

    private static byte[] Salted(sbyte mechanism, string password, byte[] salt, int iterations) =>
        Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations,
            mechanism == Sha512 ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256, mechanism == Sha512 ? 64 : 32);

    private static AlterUserScramCredentialsRequest.ScramCredentialUpsertion Upsert(string user, sbyte mechanism = Sha256, int iterations = 4096, string password = "pencil") => new()
    {
        Name = user,
        Mechanism = mechanism,
        Iterations = iterations,
        Salt = Salt,
        SaltedPassword = mechanism is Sha256 or Sha512 ? Salted(mechanism, password, Salt, Math.Clamp(iterations, 1, 20000)) : [1, 2, 3],
    };

    private static AlterUserScramCredentialsRequest.ScramCredentialDeletion Remove(string user, sbyte mechanism = Sha256) => new() { Name = user, Mechanism = mechanism };

    private static AlterUserScramCredentialsResponse Alter(ControllerCluster cluster, QuorumController active,
        AlterUserScramCredentialsRequest.ScramCredentialDeletion[] deletions, params AlterUserScramCredentialsRequest.ScramCredentialUpsertion[] upsertions) =>
        cluster.Done(active.AlterUserScramCredentials(new AlterUserScramCredentialsRequest { Deletions = [.. deletions], Upsertions = [.. upsertions] }));

    private static (ControllerCluster, QuorumController) NewActive(MetadataVersion? version = null, int voters = 1)
    {
        var cluster = new ControllerCluster(voters, version);
        return (cluster, cluster.ElectActive());
    }

    private static Dictionary<string, short> Codes(AlterUserScramCredentialsResponse response)
    {
        Assert.All(response.Results, r => Assert.Equal(r.ErrorCode == 0, r.ErrorMessage is null));
        return response.Results.ToDictionary(r => r.User, r => r.ErrorCode);
    }

    [Fact]
    public void An_upsertion_stores_the_RFC_5802_keys_and_they_verify_the_RFC_7677_exchange()
    {
        var (cluster, active) = NewActive();
        var response = Alter(cluster, active, [], Upsert("user"));
        Assert.Equal(new Dictionary<string, short> { ["user"] = 0 }, Codes(response));

        var record = Assert.IsType<UserScramCredentialRecord>(Assert.Single(Batches(cluster.Raft[1])[^1]));
        Assert.Equal(("user", Sha256, 4096), (record.Name, record.Mechanism, record.Iterations));
        Assert.Equal(Salt, record.Salt);
        var credential = cluster.Committed(active, s => ScramControlManager.Credential(s, "user", Sha256))!;
        Assert.Equal(record.StoredKey, credential.StoredKey);
        Assert.Equal(record.ServerKey, credential.ServerKey);

        // RFC 7677 §3: user "user", password "pencil", this salt, 4096 iterations.
        const string authMessage = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        var serverSignature = HMACSHA256.HashData(credential.ServerKey, Encoding.UTF8.GetBytes(authMessage));
        Assert.Equal("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", Convert.ToBase64String(serverSignature));
        var proof = Convert.FromBase64String("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        var clientSignature = HMACSHA256.HashData(credential.StoredKey, Encoding.UTF8.GetBytes(authMessage));
        var clientKey = proof.Zip(clientSignature, (a, b) => (byte)(a ^ b)).ToArray();
        Assert.Equal(credential.StoredKey, SHA256.HashData(clientKey));
    }

    [Fact]
    public void SCRAM_SHA_512_keys_are_64_bytes_and_differ_from_the_salted_password()
    {
        var (cluster, active) = NewActive();
        var upsertion = Upsert("alice", Sha512, 8192);
        Assert.Equal(0, Assert.Single(Alter(cluster, active, [], upsertion).Results).ErrorCode);
        var credential = cluster.Committed(active, s => ScramControlManager.Credential(s, "alice", Sha512))!;
        Assert.Equal(64, credential.StoredKey.Length);
        Assert.Equal(64, credential.ServerKey.Length);
        Assert.Equal(8192, credential.Iterations);
        Assert.NotEqual(upsertion.SaltedPassword, credential.ServerKey);
        Assert.Equal(SHA512.HashData(HMACSHA512.HashData(upsertion.SaltedPassword, "Client Key"u8)), credential.StoredKey);
        Assert.Null(cluster.Committed(active, s => ScramControlManager.Credential(s, "alice", Sha256)));
    }

    [Fact]
    public void Deletions_remove_and_a_missing_credential_is_RESOURCE_NOT_FOUND()
    {
        var (cluster, active) = NewActive();
        Alter(cluster, active, [], Upsert("alice"), Upsert("bob", Sha512));
        var response = Alter(cluster, active, [Remove("alice"), Remove("bob", Sha256), Remove("carol")]);
        Assert.Equal(new Dictionary<string, short>
        {
            ["alice"] = 0,
            ["bob"] = (short)ErrorCode.ResourceNotFound,
            ["carol"] = (short)ErrorCode.ResourceNotFound,
        }, Codes(response));
        Assert.IsType<RemoveUserScramCredentialRecord>(Assert.Single(Batches(cluster.Raft[1])[^1]));
        Assert.Equal([new ScramCredentialKey("bob", Sha512)], cluster.Committed(active, s => s.ScramCredentials.Keys.ToList()));
    }

    [Fact]
    public void Bad_mechanisms_users_and_iterations()
    {
        var (cluster, active) = NewActive();
        var response = Alter(cluster, active, [Remove("d", 0)],
            Upsert("a", 3), Upsert("b", iterations: 4095), Upsert("c", Sha512, iterations: 16385), Upsert(""), Upsert("ok", iterations: 16384), Upsert("ok2", Sha512, iterations: 4096));
        Assert.Equal(new Dictionary<string, short>
        {
            ["d"] = (short)ErrorCode.UnsupportedSaslMechanism,
            ["a"] = (short)ErrorCode.UnsupportedSaslMechanism,
            ["b"] = (short)ErrorCode.UnacceptableCredential,
            ["c"] = (short)ErrorCode.UnacceptableCredential,
            [""] = (short)ErrorCode.UnacceptableCredential,
            ["ok"] = 0,
            ["ok2"] = 0,
        }, Codes(response));
        Assert.Equal(["Too few iterations", "Too many iterations"], response.Results.Where(r => r.User is "b" or "c").Select(r => r.ErrorMessage));
        Assert.Equal(2, Batches(cluster.Raft[1])[^1].Count);
        Assert.Equal(2, cluster.Committed(active, s => s.ScramCredentials.Count));
    }

    [Fact]
    public void A_user_altered_twice_in_one_request_is_DUPLICATE_RESOURCE()
    {
        var (cluster, active) = NewActive();
        Alter(cluster, active, [], Upsert("dave"));
        var response = Alter(cluster, active, [Remove("dave")],
            Upsert("dave", Sha512), Upsert("erin"), Upsert("erin"), Upsert("frank"), Upsert("frank", Sha512), Upsert("gina"));
        Assert.Equal(new Dictionary<string, short>
        {
            ["dave"] = (short)ErrorCode.DuplicateResource,
            ["erin"] = (short)ErrorCode.DuplicateResource,
            ["frank"] = (short)ErrorCode.DuplicateResource,
            ["gina"] = 0,
        }, Codes(response));
        Assert.Equal(["dave", "erin", "frank", "gina"], response.Results.Select(r => r.User));
        var written = Assert.IsType<UserScramCredentialRecord>(Assert.Single(Batches(cluster.Raft[1])[^1]));
        Assert.Equal("gina", written.Name);
        Assert.NotNull(cluster.Committed(active, s => ScramControlManager.Credential(s, "dave", Sha256)));
    }

    [Fact]
    public void Before_3_5_IV2_SCRAM_is_UNSUPPORTED_VERSION()
    {
        var (cluster, active) = NewActive(MetadataVersion.FromFeatureLevel(10));
        var response = Alter(cluster, active, [Remove("x")], Upsert("alice"));
        Assert.Equal(new Dictionary<string, short> { ["x"] = (short)ErrorCode.UnsupportedVersion, ["alice"] = (short)ErrorCode.UnsupportedVersion }, Codes(response));
        Assert.Empty(cluster.Committed(active, s => s.ScramCredentials));
    }

    [Fact]
    public void A_standby_replays_credentials_and_a_snapshot_rebuilds_them()
    {
        var (cluster, active) = NewActive(voters: 3);
        Alter(cluster, active, [], Upsert("alice"), Upsert("bob", Sha512, 5000));
        Alter(cluster, active, [], Upsert("alice", iterations: 10000));
        Assert.True(cluster.Raft.RunUntil(() => cluster.Controllers.Values.All(c => c.LastCommittedOffset >= active.LastCommittedOffset)));
        var expected = cluster.Committed(active, s => s.ScramCredentials);
        Assert.Equal(10000, expected[new ScramCredentialKey("alice", Sha256)].Iterations);
        foreach (var c in cluster.Controllers.Values) Assert.Equal(expected, cluster.Committed(c, s => s.ScramCredentials));
        var rebuilt = cluster.Committed(active, s => s).ToRecords().Aggregate(ControllerState.Empty, (s, r) => s.Replay(r.Message));
        Assert.Equal(expected, rebuilt.ScramCredentials);
        Assert.Throws<InvalidOperationException>(() => rebuilt.Replay(new RemoveUserScramCredentialRecord { Name = "carol", Mechanism = Sha256 }));
    }
}
