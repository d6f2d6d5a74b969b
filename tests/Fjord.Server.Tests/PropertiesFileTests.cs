namespace Fjord.Server.Tests;

public sealed class PropertiesFileTests
{
    private static IReadOnlyDictionary<string, string> Parse(string text) => PropertiesFile.Parse(text).ToDictionary();

    [Fact]
    public void The_three_separators()
    {
        var props = Parse("a=1\nb: 2\nc 3\nd\t=\t4\ne :5\n");
        Assert.Equal("1", props["a"]);
        Assert.Equal("2", props["b"]);
        Assert.Equal("3", props["c"]);
        Assert.Equal("4", props["d"]);
        Assert.Equal("5", props["e"]);
    }

    [Fact]
    public void Only_the_first_separator_separates()
    {
        var props = Parse("listeners=PLAINTEXT://:9092,CONTROLLER://:9093\nmap: A:B,C:D\nx==y\n");
        Assert.Equal("PLAINTEXT://:9092,CONTROLLER://:9093", props["listeners"]);
        Assert.Equal("A:B,C:D", props["map"]);
        Assert.Equal("=y", props["x"]);
    }

    [Fact]
    public void Comments_and_blank_lines_are_skipped()
    {
        var file = PropertiesFile.Parse("# a comment\n! another\n   # indented comment\n\n   \nkey=value # not a comment\n");
        Assert.Single(file.Entries);
        Assert.Equal("value # not a comment", file.Entries[0].Value);
        Assert.Equal(6, file.Entries[0].Line);
    }

    [Fact]
    public void A_key_without_a_value_is_empty()
    {
        var props = Parse("alone\nequals=\ncolon:\n");
        Assert.Equal("", props["alone"]);
        Assert.Equal("", props["equals"]);
        Assert.Equal("", props["colon"]);
    }

    [Fact]
    public void Blanks_around_keys_and_values_are_trimmed()
    {
        var props = Parse("   key   =   value with inner spaces   \t\n");
        Assert.Equal("value with inner spaces", props["key"]);
    }

    [Fact]
    public void Escaped_trailing_blank_is_kept()
    {
        Assert.Equal("value ", Parse("key=value\\ \n")["key"]);
        Assert.Equal(" lead", Parse("key=\\ lead\n")["key"]);
    }

    [Fact]
    public void Backslash_continues_a_line_and_leading_blanks_of_the_next_are_dropped()
    {
        var file = PropertiesFile.Parse("log.dirs=/a,\\\n    /b,\\\n\t/c\nnext=1\n");
        Assert.Equal("/a,/b,/c", file.ToDictionary()["log.dirs"]);
        Assert.Equal(1, file.Entries[0].Line);
        Assert.Equal(4, file.Entries[1].Line);
    }

    [Fact]
    public void An_even_number_of_backslashes_does_not_continue()
    {
        var props = Parse("path=C:\\\\dir\\\\\nnext=1\n");
        Assert.Equal("C:\\dir\\", props["path"]);
        Assert.Equal("1", props["next"]);
    }

    [Fact]
    public void A_continuation_line_may_start_with_a_comment_character()
    {
        Assert.Equal("a#b", Parse("k=a\\\n#b\n")["k"]);
    }

    [Fact]
    public void A_comment_line_is_never_continued()
    {
        var props = Parse("# comment \\\nkey=value\n");
        Assert.Equal("value", props["key"]);
    }

    [Fact]
    public void A_continuation_at_the_end_of_the_file_ends_the_value()
    {
        Assert.Equal("abc", Parse("k=abc\\")["k"]);
    }

    [Fact]
    public void Escapes()
    {
        var props = Parse("k1=tab\\there\nk2=new\\nline\nk3=back\\\\slash\nk4=\\u00e6\\u00F8\\u00e5\nk5=\\r\\f\nk6=\\=\\:\\#\\!\\x\n");
        Assert.Equal("tab\there", props["k1"]);
        Assert.Equal("new\nline", props["k2"]);
        Assert.Equal("back\\slash", props["k3"]);
        Assert.Equal("æøå", props["k4"]);
        Assert.Equal("\r\f", props["k5"]);
        Assert.Equal("=:#!x", props["k6"]);
    }

    [Fact]
    public void Escaped_separators_belong_to_the_key()
    {
        var props = Parse("a\\=b=c\nkey\\ with\\ spaces = v\nx\\:y:z\n");
        Assert.Equal("c", props["a=b"]);
        Assert.Equal("v", props["key with spaces"]);
        Assert.Equal("z", props["x:y"]);
    }

    [Theory]
    [InlineData("k=\\u12\n")]
    [InlineData("k=\\u12G4\n")]
    [InlineData("k=ok\nk2=\\uZZZZ\n")]
    public void A_malformed_unicode_escape_names_its_line(string text)
    {
        var e = Assert.Throws<PropertiesFormatException>(() => PropertiesFile.Parse(text, "server.properties"));
        Assert.Equal(text.Count(c => c == '\n'), e.Line);
        Assert.StartsWith($"server.properties:{e.Line}:", e.Message);
        Assert.Contains("\\uXXXX", e.Message);
    }

    [Fact]
    public void An_entry_without_a_key_names_its_line()
    {
        var e = Assert.Throws<PropertiesFormatException>(() => PropertiesFile.Parse("a=1\n\n=value\n"));
        Assert.Equal(3, e.Line);
    }

    [Fact]
    public void Line_numbers_count_every_line_ending()
    {
        var file = PropertiesFile.Parse("a=1\r\nb=2\rc=3\n\nd=4");
        Assert.Equal([1, 2, 3, 5], file.Entries.Select(e => e.Line));
        Assert.Equal("4", file.ToDictionary()["d"]);
    }

    [Fact]
    public void The_last_duplicate_wins_and_LineOf_points_at_it()
    {
        var file = PropertiesFile.Parse("a=1\nb=2\na=3\n");
        Assert.Equal("3", file.ToDictionary()["a"]);
        Assert.Equal(3, file.LineOf("a"));
        Assert.Null(file.LineOf("zzz"));
        Assert.Equal(3, file.Entries.Count);
    }

    [Fact]
    public void A_byte_order_mark_is_ignored()
    {
        Assert.Equal("1", Parse("\uFEFFa=1\n")["a"]);
    }

    [Fact]
    public void Format_then_parse_round_trips()
    {
        var original = new Dictionary<string, string>
        {
            ["plain"] = "value",
            ["with spaces"] = "  leading and trailing  ",
            ["sep=and:colon"] = "a=b:c",
            ["#hash"] = "!bang",
            ["ctl"] = "tab\tnew\nline\\back",
            ["unicode"] = "日本 æ",
            ["empty"] = "",
        };
        var text = PropertiesFile.Format(original, ["", "a comment"]);
        Assert.StartsWith("#\n#a comment\n", text);
        var parsed = PropertiesFile.Parse(text).ToDictionary();
        Assert.Equal(original.OrderBy(p => p.Key), parsed.OrderBy(p => p.Key));
    }

    [Fact]
    public void Load_reads_a_file_and_names_it_in_errors()
    {
        using var dir = new TempDirectory();
        var path = dir.WriteFile("x.properties", "a=1\nb=\\u0\n");
        var e = Assert.Throws<PropertiesFormatException>(() => PropertiesFile.Load(path));
        Assert.Equal(path, e.File);
        Assert.Contains($"{path}:2:", e.Message);
    }
}
