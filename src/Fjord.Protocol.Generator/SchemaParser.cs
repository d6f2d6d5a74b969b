using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace Fjord.Protocol.Generator;

/// <summary>
/// Parses one .schema file (see docs/schema-language.md) into messages, resolving common structs,
/// checking every rule the language states, and naming every error with its line.
/// </summary>
public static class SchemaParser
{
    private static readonly HashSet<string> ReservedTopLevel = new(StringComparer.Ordinal)
    { "ApiKey", "Schema", "LowestSupportedVersion", "HighestSupportedVersion", "UnknownTaggedFields", "MessageSchema", "Write", "Read", "ComputeSize", "WriteJson", "IsFlexible", "MinSize", "IsDefaultValue" };

    public static SchemaFile Parse(string path, string text, List<SchemaError> errors)
    {
        var file = new SchemaFile { Path = path };
        MessageDef? current = null;
        var stack = new List<(int Depth, FieldDef Field)>();
        var lines = text.Replace("\r\n", "\n").Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            int lineNo = i + 1;
            var raw = lines[i];
            var (content, doc) = SplitComment(raw);
            if (content.Trim().Length == 0) continue;
            if (content.IndexOf('\t') >= 0) { errors.Add(new SchemaError(path, lineNo, "tabs are not allowed; indent with two spaces")); continue; }
            int indent = content.Length - content.TrimStart(' ').Length;
            var tokens = Tokenize(content.Trim(), path, lineNo, errors);
            if (tokens.Count == 0) continue;
            if (indent == 0)
            {
                current = ParseBlockHeader(tokens, doc, path, lineNo, errors);
                stack.Clear();
                if (current is null) continue;
                current.FileName = path;
                if (current.Kind == Kind.Struct) file.CommonStructs.Add(current); else file.Messages.Add(current);
                continue;
            }
            if (current is null) { errors.Add(new SchemaError(path, lineNo, "a field line before any block")); continue; }
            if (indent % 2 != 0) { errors.Add(new SchemaError(path, lineNo, "indentation must be a multiple of two spaces")); continue; }
            int depth = indent / 2;
            while (stack.Count > 0 && stack[stack.Count - 1].Depth >= depth) stack.RemoveAt(stack.Count - 1);
            int expected = stack.Count == 0 ? 1 : stack[stack.Count - 1].Depth + 1;
            if (depth != expected) { errors.Add(new SchemaError(path, lineNo, $"indentation jumps to depth {depth}; expected {expected}")); continue; }
            var field = ParseField(tokens, doc, path, lineNo, errors);
            if (field is null) continue;
            if (stack.Count == 0) current.Fields.Add(field);
            else
            {
                var parent = stack[stack.Count - 1].Field;
                if (!parent.Type.IsStruct) { errors.Add(new SchemaError(path, lineNo, $"field '{parent.Name}' of type {parent.Type.Spelling} cannot have nested fields")); continue; }
                parent.Struct ??= new StructDef { Name = parent.Type.StructName! };
                parent.Struct.Fields.Add(field);
            }
            stack.Add((depth, field));
        }
        foreach (var message in file.Messages) Resolve(message, file, errors);
        return file;
    }

    private static (string Content, string? Doc) SplitComment(string line)
    {
        bool inQuotes = false;
        for (int i = 0; i < line.Length; i++)
        {
            if (line[i] == '"') inQuotes = !inQuotes;
            else if (line[i] == '#' && !inQuotes)
            {
                var doc = line.Substring(i + 1).Trim();
                return (line.Substring(0, i), doc.Length == 0 ? null : doc);
            }
        }
        return (line, null);
    }

    private static List<string> Tokenize(string s, string path, int line, List<SchemaError> errors)
    {
        var tokens = new List<string>();
        int i = 0;
        while (i < s.Length)
        {
            if (s[i] == ' ') { i++; continue; }
            int start = i;
            bool inQuotes = false;
            while (i < s.Length && (inQuotes || s[i] != ' '))
            {
                if (s[i] == '"') inQuotes = !inQuotes;
                i++;
            }
            if (inQuotes) errors.Add(new SchemaError(path, line, "unterminated string"));
            tokens.Add(s.Substring(start, i - start));
        }
        return tokens;
    }

    private static MessageDef? ParseBlockHeader(List<string> tokens, string? doc, string path, int line, List<SchemaError> errors)
    {
        var kind = tokens[0] switch
        {
            "request" => Kind.Request, "response" => Kind.Response, "header" => Kind.Header,
            "metadata" => Kind.Metadata, "data" => Kind.Data, "struct" => Kind.Struct, _ => (Kind?)null,
        };
        if (kind is null) { errors.Add(new SchemaError(path, line, $"unknown block kind '{tokens[0]}' (request, response, header, metadata, data, struct)")); return null; }
        if (tokens.Count < 2 || !IsIdentifier(tokens[1])) { errors.Add(new SchemaError(path, line, "a block needs a PascalCase name")); return null; }
        var m = new MessageDef { Kind = kind.Value, Name = tokens[1], Doc = doc, Line = line, Versions = Versions.None };
        bool sawVersions = false, sawFlexible = false;
        foreach (var t in tokens.Skip(2))
        {
            var (key, value) = SplitAttr(t);
            switch (key)
            {
                case "key":
                    if (!short.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var k) || k < 0) errors.Add(new SchemaError(path, line, $"bad key '{value}'"));
                    else m.ApiKey = k;
                    break;
                case "versions":
                    if (!TryParseRange(value, out var v)) errors.Add(new SchemaError(path, line, $"bad versions '{value}' (use 5 or 0-11)"));
                    else { m.Versions = v; sawVersions = true; }
                    break;
                case "flexible":
                    sawFlexible = true;
                    if (value == "none") m.Flexible = Versions.None;
                    else if (value.EndsWith("+") && short.TryParse(value.TrimEnd('+'), NumberStyles.Integer, CultureInfo.InvariantCulture, out var f)) m.Flexible = new Versions(f, short.MaxValue);
                    else errors.Add(new SchemaError(path, line, $"bad flexible '{value}' (use 9+ or none)"));
                    break;
                case "listeners":
                    m.Listeners.AddRange(value.Split(','));
                    break;
                default:
                    errors.Add(new SchemaError(path, line, $"unknown block attribute '{t}'"));
                    break;
            }
        }
        if (kind == Kind.Struct) { m.Versions = sawVersions ? m.Versions : new Versions(0, short.MaxValue); return m; }
        if (!sawVersions) errors.Add(new SchemaError(path, line, $"{m.Name}: versions= is required"));
        if (!sawFlexible) errors.Add(new SchemaError(path, line, $"{m.Name}: flexible= is required"));
        if ((kind is Kind.Request or Kind.Response or Kind.Metadata) && m.ApiKey < 0) errors.Add(new SchemaError(path, line, $"{m.Name}: key= is required"));
        return m;
    }

    private static FieldDef? ParseField(List<string> tokens, string? doc, string path, int line, List<SchemaError> errors)
    {
        if (tokens.Count < 3) { errors.Add(new SchemaError(path, line, "a field needs: Name type versions")); return null; }
        if (!IsIdentifier(tokens[0])) { errors.Add(new SchemaError(path, line, $"'{tokens[0]}' is not a PascalCase field name")); return null; }
        var type = ParseType(tokens[1]);
        if (type is null) { errors.Add(new SchemaError(path, line, $"unknown type '{tokens[1]}'")); return null; }
        var field = new FieldDef { Name = tokens[0], Type = type, Doc = doc, Line = line };
        if (!TryParseFieldVersions(tokens[2], out field.Versions)) { errors.Add(new SchemaError(path, line, $"bad versions '{tokens[2]}' (use v3+, v0-4 or v5)")); return null; }
        foreach (var t in tokens.Skip(3))
        {
            var (key, value) = SplitAttr(t);
            switch (key)
            {
                case "nullable":
                    if (!TryParseFieldVersions(value, out field.NullableVersions)) errors.Add(new SchemaError(path, line, $"bad nullable versions '{value}'"));
                    break;
                case "tag":
                    if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out field.Tag) || field.Tag < 0) errors.Add(new SchemaError(path, line, $"bad tag '{value}'"));
                    break;
                case "default": field.Default = value; break;
                case "ignorable": field.Ignorable = true; break;
                case "key": field.IsKey = true; break;
                case "flexible":
                    if (value != "none") errors.Add(new SchemaError(path, line, "a field's flexible= can only be none"));
                    field.AlwaysClassic = true;
                    break;
                default: errors.Add(new SchemaError(path, line, $"unknown field attribute '{t}'")); break;
            }
        }
        return field;
    }

    private static TypeRef? ParseType(string spelling)
    {
        bool isArray = spelling.StartsWith("[]", StringComparison.Ordinal);
        var element = isArray ? spelling.Substring(2) : spelling;
        Prim? prim = element switch
        {
            "bool" => Prim.Bool, "int8" => Prim.Int8, "int16" => Prim.Int16, "uint16" => Prim.UInt16,
            "int32" => Prim.Int32, "uint32" => Prim.UInt32, "int64" => Prim.Int64, "float64" => Prim.Float64,
            "uuid" => Prim.Uuid, "string" => Prim.String, "bytes" => Prim.Bytes, "records" => Prim.Records,
            _ => null,
        };
        if (prim is not null)
        {
            if (isArray && prim is Prim.Records) return null;
            return new TypeRef(prim.Value, isArray, null, spelling);
        }
        return IsIdentifier(element) ? new TypeRef(Prim.Struct, isArray, element, spelling) : null;
    }

    private static (string Key, string Value) SplitAttr(string token)
    {
        int eq = token.IndexOf('=');
        return eq < 0 ? (token, "") : (token.Substring(0, eq), token.Substring(eq + 1));
    }

    private static bool TryParseFieldVersions(string s, out Versions versions)
    {
        versions = Versions.None;
        if (!s.StartsWith("v", StringComparison.Ordinal)) return false;
        s = s.Substring(1);
        if (s.EndsWith("+", StringComparison.Ordinal))
        {
            if (!short.TryParse(s.TrimEnd('+'), NumberStyles.None, CultureInfo.InvariantCulture, out var lo)) return false;
            versions = new Versions(lo, short.MaxValue);
            return true;
        }
        return TryParseRange(s, out versions);
    }

    private static bool TryParseRange(string s, out Versions versions)
    {
        versions = Versions.None;
        var parts = s.Split('-');
        if (parts.Length == 1 && short.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var single)) { versions = new Versions(single, single); return true; }
        if (parts.Length == 2 && short.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var lo)
            && short.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var hi) && lo <= hi) { versions = new Versions(lo, hi); return true; }
        return false;
    }

    private static bool IsIdentifier(string s) =>
        s.Length > 0 && char.IsUpper(s[0]) && s.All(c => char.IsLetterOrDigit(c) || c == '_');

    /// <summary>Resolves struct references, checks the field rules and names the classes.</summary>
    private static void Resolve(MessageDef m, SchemaFile file, List<SchemaError> errors)
    {
        var byName = new Dictionary<string, StructDef>(StringComparer.Ordinal);
        var topNames = new HashSet<string>(m.Fields.Select(f => f.Name), StringComparer.Ordinal);
        foreach (var f in m.Fields)
            if (ReservedTopLevel.Contains(f.Name))
                errors.Add(new SchemaError(file.Path, f.Line, $"{m.Name}: a top-level field may not be named '{f.Name}' (the generated class uses that name)"));
        ResolveFields(m, m.Fields, file, byName, errors, new HashSet<string>());
        foreach (var s in m.AllStructs)
        {
            bool collides = topNames.Contains(s.Name) || s.Name == m.Name || s.Fields.Any(f => f.Name == s.Name);
            s.ClassName = collides ? s.Name + "Data" : s.Name;
        }
        var classNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in m.AllStructs)
            if (!classNames.Add(s.ClassName))
                errors.Add(new SchemaError(file.Path, m.Line, $"{m.Name}: two structs are both named '{s.ClassName}'"));
    }

    private static void ResolveFields(MessageDef m, List<FieldDef> fields, SchemaFile file, Dictionary<string, StructDef> byName,
        List<SchemaError> errors, HashSet<string> resolving)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var tags = new HashSet<int>();
        foreach (var f in fields)
        {
            if (!names.Add(f.Name)) errors.Add(new SchemaError(file.Path, f.Line, $"duplicate field '{f.Name}'"));
            CheckField(m, f, file.Path, errors);
            if (f.IsTagged && !tags.Add(f.Tag)) errors.Add(new SchemaError(file.Path, f.Line, $"duplicate tag {f.Tag}"));
            if (!f.Type.IsStruct) continue;
            var name = f.Type.StructName!;
            if (f.Struct is null)
            {
                if (byName.TryGetValue(name, out var known)) { f.Struct = known; continue; }
                var common = file.CommonStructs.FirstOrDefault(s => s.Name == name);
                if (common is null) { errors.Add(new SchemaError(file.Path, f.Line, $"struct '{name}' has no fields here and no 'struct {name}' block is in this file")); continue; }
                if (!resolving.Add(name)) { errors.Add(new SchemaError(file.Path, f.Line, $"struct '{name}' contains itself")); continue; }
                f.Struct = new StructDef { Name = name, Fields = common.Fields.Select(Clone).ToList() };
                byName[name] = f.Struct;
                m.AllStructs.Add(f.Struct);
                ResolveFields(m, f.Struct.Fields, file, byName, errors, resolving);
                resolving.Remove(name);
            }
            else
            {
                if (byName.ContainsKey(name)) { errors.Add(new SchemaError(file.Path, f.Line, $"struct '{name}' is declared twice in {m.Name}")); continue; }
                byName[name] = f.Struct;
                m.AllStructs.Add(f.Struct);
                ResolveFields(m, f.Struct.Fields, file, byName, errors, resolving);
            }
        }
    }

    private static FieldDef Clone(FieldDef f) => new()
    {
        Name = f.Name, Type = f.Type, Versions = f.Versions, NullableVersions = f.NullableVersions, Tag = f.Tag,
        Default = f.Default, Ignorable = f.Ignorable, IsKey = f.IsKey, AlwaysClassic = f.AlwaysClassic, Doc = f.Doc, Line = f.Line,
        Struct = f.Struct is null ? null : new StructDef { Name = f.Struct.Name, Fields = f.Struct.Fields.Select(Clone).ToList() },
    };

    private static void CheckField(MessageDef m, FieldDef f, string path, List<SchemaError> errors)
    {
        if (f.Versions.Intersect(m.Versions).IsNone)
            errors.Add(new SchemaError(path, f.Line, $"field '{f.Name}' versions {f.Versions} never meet {m.Name}'s versions {m.Versions}"));
        if (!f.NullableVersions.IsNone && !f.Type.CanBeNull)
            errors.Add(new SchemaError(path, f.Line, $"field '{f.Name}' of type {f.Type.Spelling} cannot be nullable"));
        if (f.IsTagged && !m.Flexible.Covers(f.Versions.Intersect(m.Versions)))
            errors.Add(new SchemaError(path, f.Line, $"tagged field '{f.Name}' exists in versions {f.Versions} that are not all flexible ({m.Flexible})"));
        if (f.AlwaysClassic && f.Type.Prim is not (Prim.String or Prim.Bytes))
            errors.Add(new SchemaError(path, f.Line, $"flexible=none only applies to string and bytes fields"));
        if (f.Default is not null && !DefaultIsValid(f))
            errors.Add(new SchemaError(path, f.Line, $"default '{f.Default}' does not suit type {f.Type.Spelling}"));
    }

    private static bool DefaultIsValid(FieldDef f)
    {
        var d = f.Default!;
        if (d == "null") return !f.NullableVersions.IsNone;
        if (f.Type.IsArray || f.Type.IsStruct) return false;
        switch (f.Type.Prim)
        {
            case Prim.Bool: return d is "true" or "false";
            case Prim.String: return d.Length >= 2 && d[0] == '"' && d[d.Length - 1] == '"';
            case Prim.Float64: return double.TryParse(d, NumberStyles.Float, CultureInfo.InvariantCulture, out _);
            case Prim.Int8: case Prim.Int16: case Prim.UInt16: case Prim.Int32: case Prim.UInt32: case Prim.Int64:
                return TryParseInteger(d, out var value) && value >= MinOf(f.Type.Prim) && value <= MaxOf(f.Type.Prim);
            default: return false;
        }
    }

    public static bool TryParseInteger(string s, out long value)
    {
        bool negative = s.StartsWith("-", StringComparison.Ordinal);
        var body = negative ? s.Substring(1) : s;
        bool ok = body.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? long.TryParse(body.Substring(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out value)
            : long.TryParse(body, NumberStyles.None, CultureInfo.InvariantCulture, out value);
        if (negative) value = -value;
        return ok;
    }

    private static long MinOf(Prim p) => p switch { Prim.Int8 => sbyte.MinValue, Prim.Int16 => short.MinValue, Prim.Int32 => int.MinValue, Prim.Int64 => long.MinValue, _ => 0 };
    private static long MaxOf(Prim p) => p switch { Prim.Int8 => sbyte.MaxValue, Prim.Int16 => short.MaxValue, Prim.UInt16 => ushort.MaxValue, Prim.Int32 => int.MaxValue, Prim.UInt32 => uint.MaxValue, _ => long.MaxValue };
}
