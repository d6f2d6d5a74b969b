using System.Xml.Linq;

namespace Fjord.Architecture.Tests;

/// <summary>
/// The layering of docs/ARCHITECTURE.md, checked on the project files: a project may reference
/// only the projects its row allows, so nothing lower ever references anything higher.
/// </summary>
public sealed class LayeringTests
{
    /// <summary>Project → the projects it may reference (directly). Only Server and Cli see everything.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Fjord.Common"] = [],
        ["Fjord.Protocol.Generator"] = [],
        ["Fjord.Protocol"] = ["Fjord.Common", "Fjord.Protocol.Generator"],
        ["Fjord.Storage"] = ["Fjord.Common", "Fjord.Protocol"],
        ["Fjord.Raft"] = ["Fjord.Common", "Fjord.Protocol"],
        ["Fjord.Metadata"] = ["Fjord.Common", "Fjord.Protocol", "Fjord.Raft"],
        ["Fjord.Controller"] = ["Fjord.Common", "Fjord.Protocol", "Fjord.Raft", "Fjord.Metadata"],
        ["Fjord.Broker"] = ["Fjord.Common", "Fjord.Protocol", "Fjord.Metadata", "Fjord.Storage"],
        ["Fjord.Network"] = ["Fjord.Common", "Fjord.Protocol"],
        ["Fjord.Server"] = ["*"],
        ["Fjord.Cli"] = ["*"],
    };

    public static TheoryData<string> SourceProjects()
    {
        var data = new TheoryData<string>();
        foreach (var csproj in Directory.GetFiles(Path.Combine(RepoRoot(), "src"), "*.csproj", SearchOption.AllDirectories))
            data.Add(Path.GetFileNameWithoutExtension(csproj));
        return data;
    }

    [Theory]
    [MemberData(nameof(SourceProjects))]
    public void A_project_references_only_lower_layers(string project)
    {
        Assert.True(Allowed.TryGetValue(project, out var allowed), $"{project} is not in the layering table; add it to docs/ARCHITECTURE.md and to this test");
        if (allowed!.Contains("*")) return;
        foreach (var reference in References(project))
            Assert.True(allowed.Contains(reference), $"{project} references {reference}, which its layer may not see (allowed: {string.Join(", ", allowed)})");
    }

    [Fact]
    public void The_table_catches_an_upward_reference()
    {
        // The check above must be able to fail: Broker may not see Controller, Protocol may not see Storage.
        Assert.DoesNotContain("Fjord.Controller", Allowed["Fjord.Broker"]);
        Assert.DoesNotContain("Fjord.Storage", Allowed["Fjord.Protocol"]);
        Assert.DoesNotContain("Fjord.Broker", Allowed["Fjord.Raft"]);
    }

    [Fact]
    public void Every_project_has_a_readme()
    {
        foreach (var csproj in Directory.GetFiles(Path.Combine(RepoRoot(), "src"), "*.csproj", SearchOption.AllDirectories))
            Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(csproj)!, "README.md")), $"{Path.GetFileName(csproj)} has no README.md");
    }

    private static IEnumerable<string> References(string project)
    {
        var path = Directory.GetFiles(Path.Combine(RepoRoot(), "src"), project + ".csproj", SearchOption.AllDirectories).Single();
        return XDocument.Load(path).Descendants("ProjectReference")
            .Select(e => Path.GetFileNameWithoutExtension(e.Attribute("Include")!.Value.Replace('\\', '/')));
    }

    private static string RepoRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Fjord.sln"))) dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("Fjord.sln not found");
    }
}
