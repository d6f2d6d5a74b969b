using System.Globalization;
using System.Text.Json.Nodes;
using Fjord.Metadata;
using Fjord.Protocol.Messages;

namespace Fjord.Cli.Admin;

/// <summary>
/// <c>fjord features</c>: what <c>kafka-features</c> does. <c>describe</c> reads the supported ranges
/// and finalized levels from the bootstrap broker's ApiVersions answer (v3+ tagged fields);
/// <c>upgrade</c> / <c>downgrade</c> send UpdateFeatures (upgrade type UPGRADE, SAFE_DOWNGRADE, or
/// UNSAFE_DOWNGRADE with <c>--unsafe</c>; <c>--dry-run</c> sets ValidateOnly). <c>--metadata V</c> (or
/// <c>--release-version V</c>) takes a level number (21), a release (3.9) or an exact version
/// (3.9-IV0); <c>--feature name=level</c> sets any feature. A real (not dry-run) update waits (≤ 15 s)
/// until the bootstrap broker's ApiVersions shows the new finalized levels, so a describe right after sees them.
/// </summary>
internal static class FeaturesCommand
{
    private const string Usage = """
        usage: fjord features --bootstrap-server HOST:PORT <command>

        commands:
          describe                                       supported ranges and finalized levels of every feature
          upgrade   [--metadata V] [--feature name=level]... [--dry-run]
          downgrade [--metadata V] [--feature name=level]... [--unsafe] [--dry-run]
        V is a metadata.version level (21), a release (3.9) or an exact version (3.9-IV0); --release-version V is the same.
          --unsafe      allow a downgrade that may lose metadata
          --dry-run     ask the controller to validate the change without making it
          --output json one JSON document instead of a table
        """;

    public static int Run(string[] args, TextWriter o, TextWriter e) =>
        AdminRunner.Run("features", Usage, args, o, e,
            ["--metadata", "--release-version", "--feature"],
            ["--unsafe", "--dry-run"],
            true, RunAsync);

    private static async Task<int> RunAsync(AdminContext c)
    {
        var a = c.Args;
        string command = a.Positionals switch
        {
            [var only] when only is "describe" or "upgrade" or "downgrade" => only,
            [] => throw new UsageException("a command is needed: describe, upgrade or downgrade"),
            [var one] => throw new UsageException($"unknown command '{one}' (describe, upgrade or downgrade)"),
            _ => throw new UsageException($"unexpected argument '{a.Positionals[1]}'"),
        };
        a.Forbid(command != "describe", command, "--metadata", "--release-version", "--feature", "--dry-run");
        a.Forbid(command == "downgrade", command, "--unsafe");
        var client = await c.ClientAsync().ConfigureAwait(false);
        return command == "describe" ? await DescribeAsync(c, client).ConfigureAwait(false) : await UpdateAsync(c, client, command == "upgrade").ConfigureAwait(false);
    }

    private static readonly TimeSpan PropagationBound = TimeSpan.FromSeconds(15);

    /// <summary>A fresh ApiVersions answer of the bootstrap broker (the one of the handshake may predate a change).</summary>
    private static async Task<ApiVersionsResponse> ApiVersionsAsync(AdminClient client, CancellationToken ct)
    {
        short version = client.Version(ApiVersionsRequest.ApiKey, 0, 4);
        var answer = await AdminClient.SendAsync<ApiVersionsResponse>(client.Bootstrap,
            new ApiVersionsRequest { ClientSoftwareName = "fjord-features", ClientSoftwareVersion = "1.0" }, version, ct).ConfigureAwait(false);
        if (answer.ErrorCode != 0) throw new AdminException($"ApiVersions failed: {Errors.Describe(answer.ErrorCode, null)}");
        return answer;
    }

    private static string Level(string feature, short level)
    {
        if (feature != MetadataVersion.FeatureName || level <= 0) return level.ToString(CultureInfo.InvariantCulture);
        return MetadataVersion.All.FirstOrDefault(v => v.FeatureLevel == level)?.Version ?? level.ToString(CultureInfo.InvariantCulture);
    }

    private static async Task<int> DescribeAsync(AdminContext c, AdminClient client)
    {
        var versions = await ApiVersionsAsync(client, c.Ct).ConfigureAwait(false);
        var names = versions.SupportedFeatures.Select(f => f.Name).Union(versions.FinalizedFeatures.Select(f => f.Name)).Order(StringComparer.Ordinal).ToList();
        var rows = names.Select(name =>
        {
            var s = versions.SupportedFeatures.FirstOrDefault(f => f.Name == name);
            var f = versions.FinalizedFeatures.FirstOrDefault(x => x.Name == name);
            return (Name: name, Min: s?.MinVersion, Max: s?.MaxVersion, Finalized: f?.MaxVersionLevel);
        }).ToList();
        if (c.Json)
        {
            AdminOutput.Json(c.Out, new JsonObject
            {
                ["finalizedFeaturesEpoch"] = versions.FinalizedFeaturesEpoch,
                ["features"] = new JsonArray([.. rows.Select(r => (JsonNode)new JsonObject
                {
                    ["feature"] = r.Name,
                    ["supportedMinVersion"] = r.Min,
                    ["supportedMaxVersion"] = r.Max,
                    ["finalizedVersionLevel"] = r.Finalized ?? 0,
                    ["finalizedVersion"] = r.Finalized is { } lv ? Level(r.Name, lv) : null,
                })]),
            });
            return 0;
        }
        AdminOutput.Table(c.Out, ["FEATURE", "SUPPORTED-MIN", "SUPPORTED-MAX", "FINALIZED", "EPOCH"],
            rows.Select(r => (IReadOnlyList<string?>)[r.Name,
                r.Min is { } mn ? Level(r.Name, mn) : "-", r.Max is { } mx ? Level(r.Name, mx) : "-",
                r.Finalized is { } fl ? Level(r.Name, fl) : "0 (disabled)", versions.FinalizedFeaturesEpoch.ToString(CultureInfo.InvariantCulture)]));
        return 0;
    }

    /// <summary>A metadata.version: level number, release (3.9) or exact version (3.9-IV0).</summary>
    public static short ParseMetadataVersion(string text)
    {
        if (short.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out short level)) return level;
        try
        {
            return MetadataVersion.FromVersionString(text).FeatureLevel;
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--metadata: {e.Message}");
        }
    }

    private static async Task<int> UpdateAsync(AdminContext c, AdminClient client, bool upgrade)
    {
        var a = c.Args;
        var updates = new List<(string Feature, short Level)>();
        if ((a.Get("--metadata") ?? a.Get("--release-version")) is { } mv) updates.Add((MetadataVersion.FeatureName, ParseMetadataVersion(mv)));
        foreach (var (k, v) in AdminArgs.KeyValues(a.All("--feature"), "--feature"))
        {
            if (!short.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out short lv))
                lv = k == MetadataVersion.FeatureName ? ParseMetadataVersion(v) : throw new UsageException($"--feature: '{v}' is not a level for {k}");
            updates.Add((k, lv));
        }
        if (updates.Count == 0) throw new UsageException($"{(upgrade ? "upgrade" : "downgrade")} needs --metadata V or --feature name=level");
        if (updates.GroupBy(u => u.Feature).FirstOrDefault(g => g.Count() > 1) is { } dup) throw new UsageException($"{dup.Key} is given twice");
        bool dryRun = a.Has("--dry-run");
        short version = client.Version(UpdateFeaturesRequest.ApiKey);
        if (dryRun && version < 1) throw new AdminException("the broker's UpdateFeatures has no validate-only mode (v1+ needed) for --dry-run");
        sbyte type = upgrade ? (sbyte)1 : a.Has("--unsafe") ? (sbyte)3 : (sbyte)2;
        var request = new UpdateFeaturesRequest { TimeoutMs = 30_000, ValidateOnly = dryRun };
        foreach (var (feature, level) in updates)
            request.FeatureUpdates.Add(version == 0
                ? new UpdateFeaturesRequest.FeatureUpdateKey { Feature = feature, MaxVersionLevel = level, AllowDowngrade = !upgrade }
                : new UpdateFeaturesRequest.FeatureUpdateKey { Feature = feature, MaxVersionLevel = level, UpgradeType = type });
        c.Progress.Step($"{(dryRun ? "validating" : "applying")} the feature update");
        var answer = await AdminClient.SendAsync<UpdateFeaturesResponse>(client.Bootstrap, request, version, c.Ct).ConfigureAwait(false);
        string verb = upgrade ? "upgrade" : "downgrade";
        var results = updates.Select(u =>
        {
            var r = answer.Results.FirstOrDefault(x => x.Feature == u.Feature);
            short error = answer.ErrorCode != 0 ? answer.ErrorCode : r?.ErrorCode ?? 0;
            string? message = answer.ErrorCode != 0 ? answer.ErrorMessage : r?.ErrorMessage;
            return (u.Feature, u.Level, Error: error, Message: message);
        }).ToList();
        if (!dryRun && results.Any(r => r.Error == 0))
        {
            // The controller answered once the change was committed; the bootstrap broker applies it from the
            // metadata log a moment later: wait (bounded) until its ApiVersions shows the new finalized levels.
            c.Progress.Step("waiting for the broker to show the new feature levels");
            long deadline = Environment.TickCount64 + (long)PropagationBound.TotalMilliseconds;
            for (int round = 0; ; round++)
            {
                var now = await ApiVersionsAsync(client, c.Ct).ConfigureAwait(false);
                if (results.Where(r => r.Error == 0).All(r => (now.FinalizedFeatures.FirstOrDefault(f => f.Name == r.Feature)?.MaxVersionLevel ?? 0) == r.Level)) break;
                if (Environment.TickCount64 >= deadline)
                {
                    c.Err.WriteLine($"fjord features: warning: the update was accepted, but the broker did not show it within {PropagationBound.TotalSeconds:0} s");
                    break;
                }
                await Task.Delay(Math.Min(50 * (round + 1), 300), c.Ct).ConfigureAwait(false);
            }
        }
        if (c.Json)
        {
            AdminOutput.Json(c.Out, new JsonObject
            {
                ["dryRun"] = dryRun,
                ["results"] = new JsonArray([.. results.Select(r => (JsonNode)new JsonObject
                {
                    ["feature"] = r.Feature, ["level"] = r.Level, ["version"] = Level(r.Feature, r.Level),
                    ["ok"] = r.Error == 0, ["error"] = r.Error == 0 ? null : Errors.Describe(r.Error, r.Message),
                })]),
            });
        }
        else
        {
            foreach (var r in results)
                c.Out.WriteLine(r.Error == 0
                    ? dryRun ? $"{r.Feature} can be {verb}d to {r.Level}." : $"{r.Feature} was {verb}d to {r.Level}."
                    : $"Could not {verb} {r.Feature} to {r.Level}. {Errors.Describe(r.Error, r.Message)}");
        }
        if (results.Any(r => r.Error != 0))
        {
            c.Err.WriteLine($"fjord features: {results.Count(r => r.Error != 0)} out of {results.Count} operation(s) failed");
            return 1;
        }
        return 0;
    }
}
