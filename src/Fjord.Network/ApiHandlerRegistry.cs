using Fjord.Protocol;
using Fjord.Protocol.Messages;

namespace Fjord.Network;

/// <summary>Handles one decoded request. Errors meant for the client must be turned into error codes
/// by the handler; an exception closes the connection (logged).</summary>
public delegate ValueTask<ApiResponse> ApiHandler(RequestContext context, IKafkaMessage request);

/// <summary>One registered API: its key, the version range served (already clipped to our schema) and its handler.</summary>
public sealed record RegisteredApi(short ApiKey, string Name, VersionRange Versions, ApiHandler Handler);

/// <summary>A supported feature (<c>SupportedFeatures</c> of ApiVersions v3+).</summary>
public sealed record SupportedFeature(string Name, short MinVersion, short MaxVersion);

/// <summary>A finalized feature level (<c>FinalizedFeatures</c> of ApiVersions v3+).</summary>
public sealed record FinalizedFeature(string Name, short MinVersionLevel, short MaxVersionLevel);

/// <summary>What ApiVersions v3+ says besides the API ranges; the broker fills it from its metadata image.</summary>
public sealed record ApiVersionsFeatures(
    IReadOnlyList<SupportedFeature> SupportedFeatures,
    IReadOnlyList<FinalizedFeature> FinalizedFeatures,
    long FinalizedFeaturesEpoch,
    bool ZkMigrationReady = false)
{
    public static ApiVersionsFeatures Empty { get; } = new([], [], -1);
}

/// <summary>
/// One handler per API key with the version range it serves. The ApiVersions answer is derived from it:
/// exactly the registered keys with their ranges, plus ApiVersions itself, which the network layer
/// answers (it cannot be registered). Registration is expected at start-up; lookups are lock-free and
/// safe from any thread, also while a registration happens (copy-on-write table).
/// </summary>
public sealed class ApiHandlerRegistry
{
    private readonly object _gate = new();
    private RegisteredApi?[] _byKey = [];

    /// <summary>Supplies the features part of ApiVersions (read on every ApiVersions request); null → none, epoch -1.</summary>
    public Func<ApiVersionsFeatures>? FeaturesSupplier { get; set; }

    /// <summary>ApiVersions' own entry (the range of our schema).</summary>
    public static VersionRange ApiVersionsRange => (KafkaApis.Find(ApiVersionsRequest.ApiKey)
        ?? throw new InvalidOperationException("no ApiVersions schema")).Versions;

    /// <summary>
    /// Registers <paramref name="handler"/> for <paramref name="apiKey"/>, serving versions
    /// <paramref name="minVersion"/>..<paramref name="maxVersion"/> clipped to our schema's range.
    /// Throws for an unknown key, an empty clipped range, ApiVersions, or a key registered twice.
    /// </summary>
    public RegisteredApi Register(short apiKey, short minVersion, short maxVersion, ApiHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var api = KafkaApis.Find(apiKey) ?? throw new ArgumentException($"unknown API key {apiKey}", nameof(apiKey));
        if (apiKey == ApiVersionsRequest.ApiKey)
            throw new ArgumentException("ApiVersions is answered by the network layer from this registry", nameof(apiKey));
        short lo = Math.Max(minVersion, api.Versions.Lowest);
        short hi = Math.Min(maxVersion, api.Versions.Highest);
        if (lo > hi)
            throw new ArgumentException($"{api.Name}: versions {minVersion}-{maxVersion} do not overlap our schema's {api.Versions}");
        var entry = new RegisteredApi(apiKey, api.Name, new VersionRange(lo, hi), handler);
        lock (_gate)
        {
            var table = _byKey;
            if (apiKey < table.Length && table[apiKey] is not null)
                throw new InvalidOperationException($"{api.Name} (key {apiKey}) already has a handler");
            var next = new RegisteredApi?[Math.Max(table.Length, apiKey + 1)];
            Array.Copy(table, next, table.Length);
            next[apiKey] = entry;
            Volatile.Write(ref _byKey, next);
        }
        return entry;
    }

    /// <summary>Registers a handler taking the typed request (a convenience over <see cref="Register(short, short, short, ApiHandler)"/>).</summary>
    public RegisteredApi Register<TRequest>(short minVersion, short maxVersion, Func<RequestContext, TRequest, ValueTask<ApiResponse>> handler)
        where TRequest : class, IKafkaMessage<TRequest>, new()
    {
        ArgumentNullException.ThrowIfNull(handler);
        short key = new TRequest().MessageApiKey;
        return Register(key, minVersion, maxVersion, (ctx, request) => handler(ctx, (TRequest)request));
    }

    /// <summary>The registration for <paramref name="apiKey"/>, or null.</summary>
    public RegisteredApi? Find(short apiKey)
    {
        var table = Volatile.Read(ref _byKey);
        return apiKey >= 0 && apiKey < table.Length ? table[apiKey] : null;
    }

    /// <summary>Every registration, in key order (ApiVersions excluded).</summary>
    public IReadOnlyList<RegisteredApi> Registered => Volatile.Read(ref _byKey).Where(e => e is not null).Select(e => e!).ToList();

    /// <summary>The full ApiVersions answer: every registered key with its range plus ApiVersions, in key
    /// order, and the features from <see cref="FeaturesSupplier"/>.</summary>
    public ApiVersionsResponse Describe()
    {
        var response = new ApiVersionsResponse();
        var table = Volatile.Read(ref _byKey);
        var apiVersions = ApiVersionsRange;
        bool added = false;
        for (short key = 0; key < Math.Max(table.Length, ApiVersionsRequest.ApiKey + 1); key++)
        {
            if (key == ApiVersionsRequest.ApiKey)
            {
                response.ApiKeys.Add(new ApiVersionsResponse.ApiVersion { ApiKey = key, MinVersion = apiVersions.Lowest, MaxVersion = apiVersions.Highest });
                added = true;
            }
            else if (key < table.Length && table[key] is { } entry)
                response.ApiKeys.Add(new ApiVersionsResponse.ApiVersion { ApiKey = key, MinVersion = entry.Versions.Lowest, MaxVersion = entry.Versions.Highest });
        }
        System.Diagnostics.Debug.Assert(added);
        var features = FeaturesSupplier?.Invoke() ?? ApiVersionsFeatures.Empty;
        foreach (var f in features.SupportedFeatures)
            response.SupportedFeatures.Add(new ApiVersionsResponse.SupportedFeatureKey { Name = f.Name, MinVersion = f.MinVersion, MaxVersion = f.MaxVersion });
        foreach (var f in features.FinalizedFeatures)
            response.FinalizedFeatures.Add(new ApiVersionsResponse.FinalizedFeatureKey { Name = f.Name, MinVersionLevel = f.MinVersionLevel, MaxVersionLevel = f.MaxVersionLevel });
        response.FinalizedFeaturesEpoch = features.FinalizedFeaturesEpoch;
        response.ZkMigrationReady = features.ZkMigrationReady;
        return response;
    }
}
