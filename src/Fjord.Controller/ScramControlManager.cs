using System.Security.Cryptography;
using Fjord.Common;
using Fjord.Metadata;
using Fjord.Protocol.Messages;
using Fjord.Protocol.Metadata;

namespace Fjord.Controller;

/// <summary>
/// SCRAM credentials (Kafka's ScramControlManager): AlterUserScramCredentials over
/// <see cref="ControllerState.ScramCredentials"/>. The client sends the salted password; the
/// controller stores only StoredKey and ServerKey (RFC 5802 §3).
/// </summary>
public sealed class ScramControlManager
{
    /// <summary>Kafka's ScramMechanism ids.</summary>
    public const sbyte ScramSha256 = 1, ScramSha512 = 2;

    /// <summary>The iteration bounds Kafka accepts for both mechanisms.</summary>
    public const int MinIterations = 4096, MaxIterations = 16384;

    public static string? MechanismName(sbyte mechanism) => mechanism switch
    {
        ScramSha256 => "SCRAM-SHA-256",
        ScramSha512 => "SCRAM-SHA-512",
        _ => null,
    };

    /// <summary>
    /// Deletions, then upsertions. A user may appear once per request (Kafka's rule: a second
    /// deletion or upsertion for the same user, whatever the mechanism, fails that user with
    /// DUPLICATE_RESOURCE and nothing is written for it). Unknown mechanism → UNSUPPORTED_SASL_MECHANISM,
    /// empty user name or iterations outside [4096, 16384] → UNACCEPTABLE_CREDENTIAL, deleting a
    /// credential that does not exist → RESOURCE_NOT_FOUND, metadata.version before 3.5-IV2 →
    /// UNSUPPORTED_VERSION. One result per user, in order of first appearance.
    /// </summary>
    public static ControllerResult<AlterUserScramCredentialsResponse> AlterCredentials(ControllerState state, AlterUserScramCredentialsRequest request)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        bool supported = state.MetadataVersion?.IsScramSupported == true;
        var order = new List<string>();
        var errors = new Dictionary<string, (ErrorCode, string)>(StringComparer.Ordinal);
        var valid = new Dictionary<string, MetadataRecord>(StringComparer.Ordinal);

        void Consider(string user, Func<(ErrorCode Code, string Message, MetadataRecord? Record)> validate)
        {
            if (!order.Contains(user)) order.Add(user);
            if (errors.ContainsKey(user)) return;
            if (valid.Remove(user))
            {
                errors[user] = (ErrorCode.DuplicateResource, "A user credential cannot be altered twice in the same request");
                return;
            }
            if (!supported)
            {
                errors[user] = (ErrorCode.UnsupportedVersion, "The current metadata version does not support SCRAM");
                return;
            }
            var (code, message, record) = validate();
            if (code != ErrorCode.None) errors[user] = (code, message);
            else valid[user] = record ?? throw new InvalidOperationException("a valid alteration without a record");
        }

        foreach (var deletion in request.Deletions)
            Consider(deletion.Name, () =>
            {
                var (code, message) = CheckUserAndMechanism(deletion.Name, deletion.Mechanism);
                if (code != ErrorCode.None) return (code, message, null);
                if (!state.ScramCredentials.ContainsKey(new ScramCredentialKey(deletion.Name, deletion.Mechanism)))
                    return (ErrorCode.ResourceNotFound, "Attempt to delete a user credential that does not exist", null);
                return (ErrorCode.None, "", new MetadataRecord(new RemoveUserScramCredentialRecord { Name = deletion.Name, Mechanism = deletion.Mechanism }, 0));
            });
        foreach (var upsertion in request.Upsertions)
            Consider(upsertion.Name, () =>
            {
                var (code, message) = CheckUserAndMechanism(upsertion.Name, upsertion.Mechanism);
                if (code != ErrorCode.None) return (code, message, null);
                if (upsertion.Iterations < MinIterations) return (ErrorCode.UnacceptableCredential, "Too few iterations", null);
                if (upsertion.Iterations > MaxIterations) return (ErrorCode.UnacceptableCredential, "Too many iterations", null);
                return (ErrorCode.None, "", new MetadataRecord(
                    CredentialRecord(upsertion.Name, upsertion.Mechanism, upsertion.Salt, upsertion.Iterations, upsertion.SaltedPassword), 0));
            });

        var response = new AlterUserScramCredentialsResponse();
        var records = new List<MetadataRecord>();
        foreach (var user in order)
        {
            var (code, message) = errors.TryGetValue(user, out var error) ? error : (ErrorCode.None, "");
            response.Results.Add(new AlterUserScramCredentialsResponse.AlterUserScramCredentialsResult
            {
                User = user,
                ErrorCode = (short)code,
                ErrorMessage = code == ErrorCode.None ? null : message,
            });
            if (code == ErrorCode.None) records.Add(valid[user]);
        }
        return new ControllerResult<AlterUserScramCredentialsResponse>(records, response);
    }

    private static (ErrorCode, string) CheckUserAndMechanism(string user, sbyte mechanism)
    {
        if (MechanismName(mechanism) is null) return (ErrorCode.UnsupportedSaslMechanism, "Unknown SCRAM mechanism");
        if (string.IsNullOrEmpty(user)) return (ErrorCode.UnacceptableCredential, "Username must not be empty");
        return (ErrorCode.None, "");
    }

    /// <summary>The record storing a credential given its salted password:
    /// StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword, "Server Key").</summary>
    public static UserScramCredentialRecord CredentialRecord(string user, sbyte mechanism, byte[] salt, int iterations, byte[] saltedPassword)
    {
        ArgumentNullException.ThrowIfNull(salt);
        ArgumentNullException.ThrowIfNull(saltedPassword);
        return new UserScramCredentialRecord
        {
            Name = user,
            Mechanism = mechanism,
            Salt = [.. salt],
            StoredKey = StoredKey(mechanism, saltedPassword),
            ServerKey = ServerKey(mechanism, saltedPassword),
            Iterations = iterations,
        };
    }

    public static byte[] StoredKey(sbyte mechanism, byte[] saltedPassword)
    {
        var clientKey = Hmac(mechanism, saltedPassword, "Client Key"u8);
        return mechanism == ScramSha512 ? SHA512.HashData(clientKey) : SHA256.HashData(clientKey);
    }

    public static byte[] ServerKey(sbyte mechanism, byte[] saltedPassword) => Hmac(mechanism, saltedPassword, "Server Key"u8);

    private static byte[] Hmac(sbyte mechanism, byte[] key, ReadOnlySpan<byte> message) => mechanism switch
    {
        ScramSha256 => HMACSHA256.HashData(key, message),
        ScramSha512 => HMACSHA512.HashData(key, message),
        _ => throw new ArgumentOutOfRangeException(nameof(mechanism), mechanism, "not a SCRAM mechanism id"),
    };

    /// <summary>The stored credential of <paramref name="user"/> for <paramref name="mechanism"/>, or null.</summary>
    public static ScramCredential? Credential(ControllerState state, string user, sbyte mechanism)
    {
        ArgumentNullException.ThrowIfNull(state);
        return state.ScramCredentials.GetValueOrDefault(new ScramCredentialKey(user, mechanism));
    }
}
