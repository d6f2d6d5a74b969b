using System.Text.Json;

namespace Fjord.Tools.Tests;

/// <summary>A combined node formatted at metadata.version 3.8-IV0 (level 20), below the default, so it can be upgraded.</summary>
public sealed class AdminNodeAt38 : AdminNode
{
    public AdminNodeAt38() : base(["--release-version", "3.8"])
    {
    }
}

/// <summary>
/// <c>fjord features upgrade|downgrade</c> for real on a node formatted at 3.8-IV0: the finalized level
/// moves and <c>features describe</c> shows it; a metadata.version downgrade across a level that changed
/// the metadata format is refused (safe or <c>--unsafe</c>) with the controller's reason, while one across
/// levels that changed nothing (per <c>MetadataVersion.All</c>) goes through.
/// </summary>
public sealed class AdminFeaturesTests(AdminNodeAt38 node) : IClassFixture<AdminNodeAt38>
{
    private JsonElement MetadataVersion() => node.Json("features", "describe").GetProperty("features").EnumerateArray()
        .Single(f => f.GetProperty("feature").GetString() == "metadata.version");

    [Fact]
    public void Upgrade_then_safe_downgrade_are_applied_and_lossy_downgrades_are_refused()
    {
        // Formatted at 3.8: that is the finalized level.
        var mv = MetadataVersion();
        Assert.Equal(20, mv.GetProperty("finalizedVersionLevel").GetInt16());
        Assert.Equal("3.8-IV0", mv.GetProperty("finalizedVersion").GetString());
        Assert.Matches(@"(?m)^metadata\.version\s+\S+\s+\S+\s+3\.8-IV0\s+\d+$", node.Ok("features", "describe"));
        long epoch = node.Json("features", "describe").GetProperty("finalizedFeaturesEpoch").GetInt64();

        // A dry run changes nothing.
        Assert.Contains("metadata.version can be upgraded to 21.", node.Ok("features", "upgrade", "--metadata", "3.9", "--dry-run"));
        Assert.Equal(20, MetadataVersion().GetProperty("finalizedVersionLevel").GetInt16());

        // Upgrade for real: describe shows 3.9-IV0 right after, at a later epoch.
        Assert.Equal("metadata.version was upgraded to 21.", node.Ok("features", "upgrade", "--metadata", "3.9").Trim());
        mv = MetadataVersion();
        Assert.Equal(21, mv.GetProperty("finalizedVersionLevel").GetInt16());
        Assert.Equal("3.9-IV0", mv.GetProperty("finalizedVersion").GetString());
        Assert.Matches(@"(?m)^metadata\.version\s+\S+\s+\S+\s+3\.9-IV0\s+\d+$", node.Ok("features", "describe"));
        Assert.True(node.Json("features", "describe").GetProperty("finalizedFeaturesEpoch").GetInt64() > epoch);

        // Lower through "upgrade": refused, it is a downgrade.
        var (code, o, err) = node.Fjord("features", "upgrade", "--metadata", "3.8");
        Assert.Equal(1, code);
        Assert.Contains("Could not upgrade metadata.version to 20. INVALID_UPDATE_VERSION", o);
        Assert.Contains("is a downgrade", o);
        Assert.Contains("1 out of 1 operation(s) failed", err);

        // Down to 3.7-IV0 (15) crosses 3.7-IV2 (17), which changed the metadata format: refused, safe or not.
        (code, o, _) = node.Fjord("features", "downgrade", "--metadata", "3.7-IV0");
        Assert.Equal(1, code);
        Assert.Contains("Could not downgrade metadata.version to 15. INVALID_UPDATE_VERSION: metadata.version cannot be downgraded safely from 21 to 15", o);
        Assert.Contains("3.7-IV2", o);
        (code, o, _) = node.Fjord("features", "downgrade", "--metadata", "3.7-IV0", "--unsafe");
        Assert.Equal(1, code);
        Assert.Contains("Could not downgrade metadata.version to 15. INVALID_UPDATE_VERSION: unsafe metadata.version downgrades are not supported", o);
        (code, o, _) = node.Fjord("features", "downgrade", "--metadata", "15", "--dry-run", "--unsafe", "--output", "json");
        Assert.Equal(1, code);
        var refused = JsonDocument.Parse(o).RootElement.GetProperty("results")[0];
        Assert.False(refused.GetProperty("ok").GetBoolean());
        Assert.Equal("3.7-IV0", refused.GetProperty("version").GetString());
        Assert.Equal(21, MetadataVersion().GetProperty("finalizedVersionLevel").GetInt16());

        // Down to 3.7-IV2 (17): 3.7-IV3 … 3.9-IV0 changed nothing, so a safe downgrade is applied.
        Assert.Equal("metadata.version was downgraded to 17.", node.Ok("features", "downgrade", "--release-version", "3.7-IV2").Trim());
        mv = MetadataVersion();
        Assert.Equal(17, mv.GetProperty("finalizedVersionLevel").GetInt16());
        Assert.Equal("3.7-IV2", mv.GetProperty("finalizedVersion").GetString());

        // The node still serves metadata changes at the lower level.
        Assert.Contains("Created topic feat-after.", node.Ok("topics", "--create", "--topic", "feat-after", "--partitions", "1"));
    }
}
