using System.Globalization;
using Fjord.Broker.Groups;
using Fjord.Broker.Replication;
using Fjord.Broker.Transactions;

namespace Fjord.Broker;

/// <summary>
/// The <c>server.properties</c> keys the broker's components read themselves (the group and
/// transaction coordinators, the replica manager's producer-id expiry), and the one way they read
/// a number: absent → the default; present → an integer at least the minimum, or
/// <see cref="InvalidBrokerPropertyException"/> (a wrong value is an error, never silently a default).
/// The server's config parser accepts <see cref="Keys"/> and validates them at startup by building
/// each component's options once.
/// </summary>
public static class BrokerProperties
{
    /// <summary>Every key read by <see cref="GroupCoordinatorConfig.FromProperties"/>,
    /// <see cref="TransactionCoordinatorOptions.FromProperties"/> and <see cref="ReplicaManagerOptions.WithServerProperties"/>.</summary>
    public static IReadOnlySet<string> Keys { get; } = new HashSet<string>(
        [.. GroupCoordinatorConfig.PropertyKeys, .. TransactionCoordinatorOptions.PropertyKeys, .. ReplicaManagerOptions.PropertyKeys], StringComparer.Ordinal);

    /// <summary>Builds each component's options from <paramref name="properties"/>; throws on the first invalid value.</summary>
    public static void Validate(IReadOnlyDictionary<string, string> properties)
    {
        GroupCoordinatorConfig.FromProperties(properties, replicationFactor: 1);
        TransactionCoordinatorOptions.FromProperties(properties);
        new ReplicaManagerOptions().WithServerProperties(properties);
    }

    /// <summary><paramref name="key"/>'s value as an integer ≥ <paramref name="min"/>, or <paramref name="defaultValue"/> when absent.</summary>
    public static long Long(IReadOnlyDictionary<string, string> properties, string key, long defaultValue, long min)
    {
        ArgumentNullException.ThrowIfNull(properties);
        if (!properties.TryGetValue(key, out var raw)) return defaultValue;
        if (!long.TryParse(raw.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long value))
            throw new InvalidBrokerPropertyException(key, raw, "not an integer");
        if (value < min)
            throw new InvalidBrokerPropertyException(key, raw, $"must be at least {min.ToString(CultureInfo.InvariantCulture)}");
        return value;
    }

    /// <summary>As <see cref="Long"/>, for values that must also fit an int.</summary>
    public static int Int(IReadOnlyDictionary<string, string> properties, string key, int defaultValue, int min)
    {
        long value = Long(properties, key, defaultValue, min);
        return value <= int.MaxValue ? (int)value
            : throw new InvalidBrokerPropertyException(key, properties[key], $"must be at most {int.MaxValue.ToString(CultureInfo.InvariantCulture)}");
    }
}

/// <summary>A broker property with a value its reader cannot use.</summary>
public sealed class InvalidBrokerPropertyException(string key, string value, string problem)
    : ArgumentException($"invalid value '{value}' for {key}: {problem}")
{
    public string Key { get; } = key;
    public string Value { get; } = value;
    public string Problem { get; } = problem;
}
