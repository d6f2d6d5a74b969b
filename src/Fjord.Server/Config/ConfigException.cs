namespace Fjord.Server;

/// <summary>
/// A server configuration that cannot be used: a value that does not parse or is out of range, a
/// required key that is missing, or keys that contradict each other. <see cref="Key"/> names the
/// key at fault (for a contradiction, the one to change) and <see cref="Value"/> its value as
/// written, or null when it is missing.
/// </summary>
public sealed class ConfigException : Exception
{
    public ConfigException(string key, string? value, string problem)
        : base(value is null ? $"Invalid configuration {key}: {problem}" : $"Invalid value '{value}' for configuration {key}: {problem}")
    {
        Key = key;
        Value = value;
        Problem = problem;
    }

    private ConfigException(string key, string message, bool missing)
        : base(message)
    {
        Key = key;
        Problem = missing ? "missing" : message;
    }

    public string Key { get; }
    public string? Value { get; }
    public string Problem { get; }

    /// <summary>A required key is absent (Kafka's wording).</summary>
    public static ConfigException Missing(string key, string? why = null) =>
        new(key, $"Missing required configuration \"{key}\" which has no default value{(why is null ? "." : $" ({why}).")}", missing: true);
}
