using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Fjord.Protocol.Metadata;

namespace Fjord.Server;

/// <summary>The SCRAM mechanisms Kafka supports, with Kafka's type ids (the <c>Mechanism</c> of
/// <c>UserScramCredentialRecord</c>).</summary>
public enum ScramMechanism : sbyte
{
    ScramSha256 = 1,
    ScramSha512 = 2,
}

/// <summary>
/// SCRAM credential derivation (RFC 5802 §3, as Kafka's <c>ScramFormatter</c>):
/// SaltedPassword = Hi(UTF-8 password, salt, i) — PBKDF2 with the mechanism's HMAC and one block;
/// ClientKey = HMAC(SaltedPassword, "Client Key"); StoredKey = H(ClientKey);
/// ServerKey = HMAC(SaltedPassword, "Server Key"). Kafka applies no SASLprep, and neither do we.
/// </summary>
public static class Scram
{
    public const int MinIterations = 4096;
    public const int MaxIterations = 16384;
    public const int DefaultIterations = 4096;

    public static string Name(this ScramMechanism mechanism) => mechanism switch
    {
        ScramMechanism.ScramSha256 => "SCRAM-SHA-256",
        ScramMechanism.ScramSha512 => "SCRAM-SHA-512",
        _ => throw new ArgumentOutOfRangeException(nameof(mechanism)),
    };

    public static bool TryParseMechanism(string name, out ScramMechanism mechanism)
    {
        switch (name)
        {
            case "SCRAM-SHA-256": mechanism = ScramMechanism.ScramSha256; return true;
            case "SCRAM-SHA-512": mechanism = ScramMechanism.ScramSha512; return true;
            default: mechanism = default; return false;
        }
    }

    private static HashAlgorithmName Hash(ScramMechanism mechanism) =>
        mechanism == ScramMechanism.ScramSha512 ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256;

    private static int HashLength(ScramMechanism mechanism) => mechanism == ScramMechanism.ScramSha512 ? 64 : 32;

    public static byte[] SaltedPassword(ScramMechanism mechanism, string password, byte[] salt, int iterations) =>
        Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, Hash(mechanism), HashLength(mechanism));

    public static byte[] ClientKey(ScramMechanism mechanism, byte[] saltedPassword) => Hmac(mechanism, saltedPassword, "Client Key"u8);

    public static byte[] ServerKey(ScramMechanism mechanism, byte[] saltedPassword) => Hmac(mechanism, saltedPassword, "Server Key"u8);

    public static byte[] StoredKey(ScramMechanism mechanism, byte[] clientKey) =>
        mechanism == ScramMechanism.ScramSha512 ? SHA512.HashData(clientKey) : SHA256.HashData(clientKey);

    /// <summary>A fresh random salt (32 bytes).</summary>
    public static byte[] NewSalt() => RandomNumberGenerator.GetBytes(32);

    /// <summary>The record that stores a credential, from an already salted password.</summary>
    public static UserScramCredentialRecord CredentialRecord(string user, ScramMechanism mechanism, byte[] salt, int iterations, byte[] saltedPassword) => new()
    {
        Name = user,
        Mechanism = (sbyte)mechanism,
        Salt = salt,
        StoredKey = StoredKey(mechanism, ClientKey(mechanism, saltedPassword)),
        ServerKey = ServerKey(mechanism, saltedPassword),
        Iterations = iterations,
    };

    private static byte[] Hmac(ScramMechanism mechanism, byte[] key, ReadOnlySpan<byte> message) =>
        mechanism == ScramMechanism.ScramSha512 ? HMACSHA512.HashData(key, message) : HMACSHA256.HashData(key, message);
}

/// <summary>
/// Parses <c>--add-scram</c> arguments in Kafka's syntax,
/// <c>SCRAM-SHA-256=[name=alice,password=alice-secret]</c> or
/// <c>SCRAM-SHA-512=[name=alice,iterations=8192,salt="N3E=",saltedpassword="YCE="]</c>
/// (salt and saltedpassword in base64; a value may be wrapped in double quotes), into
/// <c>UserScramCredentialRecord</c>s. Errors are <see cref="StorageFormatException"/>s with Kafka's wording.
/// </summary>
public static class ScramArgument
{
    public static UserScramCredentialRecord Parse(string argument)
    {
        var input = argument.Trim();
        int equals = input.IndexOf('=', StringComparison.Ordinal);
        if (equals < 0)
            throw new StorageFormatException($"Failed to find equals sign in SCRAM argument '{input}'");
        var mechanismName = input[..equals];
        if (!Scram.TryParseMechanism(mechanismName, out var mechanism))
            throw new StorageFormatException($"The add-scram mechanism {mechanismName} is not supported (SCRAM-SHA-256 or SCRAM-SHA-512).");
        var config = input[(equals + 1)..];
        if (!config.StartsWith('[')) throw new StorageFormatException("Expected configuration string to start with [");
        if (!config.EndsWith(']')) throw new StorageFormatException("Expected configuration string to end with ]");
        config = config[1..^1];

        var components = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var component in config.Split(','))
        {
            int eq = component.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0) throw new StorageFormatException($"No equals sign found in SCRAM component: {component}");
            var value = component[(eq + 1)..];
            if (value.Length >= 2 && value[0] == '"' && value[^1] == '"') value = value[1..^1];
            components[component[..eq]] = value;
        }

        if (!components.Remove("name", out var name))
            throw new StorageFormatException("You must supply 'name' to add-scram");
        byte[]? salt = null;
        if (components.Remove("salt", out var saltText))
            salt = Base64(saltText, $"Failed to decode given salt: {saltText}");
        int iterations = Scram.DefaultIterations;
        if (components.Remove("iterations", out var iterationsText) &&
            !int.TryParse(iterationsText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out iterations))
            throw new StorageFormatException($"Failed to parse iterations count: {iterationsText}");
        components.Remove("password", out var password);
        components.Remove("saltedpassword", out var saltedText);
        byte[]? salted = null;
        if (password is null)
        {
            if (saltedText is null)
                throw new StorageFormatException("You must supply one of 'password' or 'saltedpassword' to add-scram");
            if (salt is null)
                throw new StorageFormatException("You must supply 'salt' with 'saltedpassword' to add-scram");
            salted = Base64(saltedText, $"Failed to decode given saltedPassword: {saltedText}");
        }
        if (components.Count > 0)
            throw new StorageFormatException($"Unknown SCRAM configurations: {string.Join(", ", components.Keys.Order(StringComparer.Ordinal))}");
        if (iterations < Scram.MinIterations)
            throw new StorageFormatException($"The 'iterations' value must be >= {Scram.MinIterations} for add-scram using {mechanism.Name()}");
        if (iterations > Scram.MaxIterations)
            throw new StorageFormatException($"The 'iterations' value must be <= {Scram.MaxIterations} for add-scram using {mechanism.Name()}");

        salt ??= Scram.NewSalt();
        salted ??= Scram.SaltedPassword(mechanism, password!, salt, iterations);
        return Scram.CredentialRecord(name, mechanism, salt, iterations, salted);
    }

    private static byte[] Base64(string text, string error)
    {
        try
        {
            return Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            throw new StorageFormatException(error);
        }
    }
}
