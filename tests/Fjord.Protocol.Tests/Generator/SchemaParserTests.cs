using Fjord.Protocol.Generator;

namespace Fjord.Protocol.Tests.Generator;

/// <summary>The schema language's rules: each bad schema yields an error naming the line.</summary>
public sealed class SchemaParserTests
{
    private static List<SchemaError> Errors(string text)
    {
        var result = SchemaGenerator.GenerateAll([("T.schema", text)]);
        return result.Errors;
    }

    private static void AssertError(string text, int line, string fragment)
    {
        var errors = Errors(text);
        Assert.Contains(errors, e => e.Line == line && e.Message.Contains(fragment, StringComparison.Ordinal));
    }

    private const string Header = "data Thing versions=0-3 flexible=2+\n";

    [Fact]
    public void A_valid_schema_generates_a_class_and_no_errors()
    {
        var result = SchemaGenerator.GenerateAll([("T.schema", Header + "  A int32 v0+\n  B []Sub v1+\n    C string v1+ nullable=v2+\n  D string v2+ tag=0\n")]);
        Assert.Empty(result.Errors);
        var source = Assert.Single(result.Sources, s => s.Hint.Contains("Thing")).Source;
        Assert.Contains("public sealed partial class Thing", source);
        Assert.Contains("public sealed partial class Sub", source);
        Assert.Contains("public int A { get; set; }", source);
    }

    [Fact] public void Unknown_type_is_an_error() => AssertError(Header + "  A integer v0+\n", 2, "unknown type 'integer'");
    [Fact] public void Missing_versions_is_an_error() => AssertError(Header + "  A int32\n", 2, "a field needs");
    [Fact] public void Bad_field_versions_is_an_error() => AssertError(Header + "  A int32 0+\n", 2, "bad versions");
    [Fact] public void Odd_indentation_is_an_error() => AssertError(Header + "   A int32 v0+\n", 2, "multiple of two");
    [Fact] public void Indentation_jump_is_an_error() => AssertError(Header + "    A int32 v0+\n", 2, "indentation jumps");
    [Fact] public void Nullable_int_is_an_error() => AssertError(Header + "  A int32 v0+ nullable=v0+\n", 2, "cannot be nullable");
    [Fact] public void Tag_in_non_flexible_version_is_an_error() => AssertError(Header + "  A int32 v1+ tag=0\n", 2, "not all flexible");
    [Fact] public void Duplicate_tag_is_an_error() => AssertError(Header + "  A int32 v2+ tag=0\n  B int32 v2+ tag=0\n", 3, "duplicate tag 0");
    [Fact] public void Duplicate_field_is_an_error() => AssertError(Header + "  A int32 v0+\n  A int16 v0+\n", 3, "duplicate field 'A'");
    [Fact] public void Bad_default_is_an_error() => AssertError(Header + "  A int8 v0+ default=300\n", 2, "does not suit");
    [Fact] public void Null_default_needs_nullable() => AssertError(Header + "  A string v0+ default=null\n", 2, "does not suit");
    [Fact] public void Reserved_top_level_name_is_an_error() => AssertError(Header + "  ApiKey int16 v0+\n", 2, "may not be named");
    [Fact] public void Missing_common_struct_is_an_error() => AssertError(Header + "  A []Nowhere v0+\n", 2, "no 'struct Nowhere' block");
    [Fact] public void Field_outside_message_versions_is_an_error() => AssertError(Header + "  A int32 v7+\n", 2, "never meet");
    [Fact] public void Nested_fields_under_a_primitive_are_an_error() => AssertError(Header + "  A int32 v0+\n    B int32 v0+\n", 3, "cannot have nested fields");
    [Fact] public void Request_needs_a_key() => AssertError("request NoKey versions=0 flexible=none\n", 1, "key= is required");

    [Fact]
    public void Request_without_response_is_an_error()
    {
        var errors = Errors("request OnlyRequest key=99 versions=0 flexible=none\n  A int32 v0+\n");
        Assert.Contains(errors, e => e.Message.Contains("has no response", StringComparison.Ordinal));
    }

    [Fact]
    public void Common_structs_resolve_and_collision_renames_the_class()
    {
        var text = "data Holder versions=0 flexible=0+\n  Cursor Cursor v0+ nullable=v0+\n  Items []Item v0+\nstruct Cursor\n  Name string v0+\nstruct Item\n  Id int32 v0+ key\n";
        var result = SchemaGenerator.GenerateAll([("T.schema", text)]);
        Assert.Empty(result.Errors);
        var source = result.Sources.Single(s => s.Hint.Contains("Holder")).Source;
        Assert.Contains("public sealed partial class CursorData", source);
        Assert.Contains("public sealed partial class Item", source);
        Assert.Contains("FindItems(int id)", source);
    }

    [Fact]
    public void Comments_become_documentation()
    {
        var result = SchemaGenerator.GenerateAll([("T.schema", "# file comment\n" + Header + "  A int32 v0+   # the a & b\n")]);
        Assert.Empty(result.Errors);
        Assert.Contains("/// <summary>the a &amp; b</summary>", result.Sources.Single(s => s.Hint.Contains("Thing")).Source);
    }

    [Fact]
    public void The_repository_schemas_have_no_errors()
    {
        var root = FindRepoRoot();
        var files = Directory.GetFiles(Path.Combine(root, "src", "Fjord.Protocol", "Schemas"), "*.schema", SearchOption.AllDirectories);
        Assert.NotEmpty(files);
        var result = SchemaGenerator.GenerateAll(files.Select(f => (f, File.ReadAllText(f))));
        Assert.Empty(result.Errors.Select(e => e.ToString()));
    }

    internal static string FindRepoRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Fjord.sln"))) dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("Fjord.sln not found above " + AppContext.BaseDirectory);
    }
}
