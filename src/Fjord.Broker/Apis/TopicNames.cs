namespace Fjord.Broker.Apis;

/// <summary>Kafka's topic-name rules and internal topics.</summary>
public static class TopicNames
{
    /// <summary>The longest legal topic name (Kafka's <c>Topic.MAX_NAME_LENGTH</c>).</summary>
    public const int MaxLength = 249;

    public const string ConsumerOffsets = "__consumer_offsets";
    public const string TransactionState = "__transaction_state";

    /// <summary>True for a legal topic name: 1–249 characters of <c>[a-zA-Z0-9._-]</c>, not <c>.</c> or <c>..</c>.</summary>
    public static bool IsValid(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxLength || name is "." or "..") return false;
        foreach (char c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')) return false;
        return true;
    }

    /// <summary>True for the topics Kafka marks internal (<c>is_internal</c> in Metadata).</summary>
    public static bool IsInternal(string? name) => name is ConsumerOffsets or TransactionState;
}

/// <summary>
/// Kafka's authorized-operations bit fields (bit n set = AclOperation n allowed). Fjord has no
/// authorizer yet, so everything a resource type supports is allowed and these are the answers when
/// a client asks; <see cref="NotRequested"/> (INT32_MIN) when it does not.
/// </summary>
public static class AuthorizedOperations
{
    public const int NotRequested = int.MinValue;

    // AclOperation ids: READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9,
    // DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12.

    /// <summary>READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS.</summary>
    public const int Topic = (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

    /// <summary>CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE.</summary>
    public const int Cluster = (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);
}
