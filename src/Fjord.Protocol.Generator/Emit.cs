using System.Globalization;
using System.Linq;
using System.Text;

namespace Fjord.Protocol.Generator;

/// <summary>Small pieces of C# shared by the emitters: types, defaults, conditions, literals.</summary>
internal static class Emit
{
    public const string Uuid = "global::Fjord.Common.Uuid";
    public const string ListOf = "global::System.Collections.Generic.List";
    public const string Memory = "global::System.ReadOnlyMemory<byte>";

    public static string Namespace(MessageDef m) => m.Kind == Kind.Metadata ? "Fjord.Protocol.Metadata" : "Fjord.Protocol.Messages";

    public static string ClassRef(MessageDef m, StructDef s) => $"global::{Namespace(m)}.{m.Name}.{s.ClassName}";

    public static string Camel(string name) => char.ToLowerInvariant(name[0]) + name.Substring(1);

    public static string Lit(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (var c in s)
        {
            if (c == '"' || c == '\\') sb.Append('\\');
            sb.Append(c);
        }
        return sb.Append('"').ToString();
    }

    public static bool IsNullableType(FieldDef f) => !f.NullableVersions.Intersect(f.Versions).IsNone;

    public static string ScalarType(MessageDef m, FieldDef f) => f.Type.Prim switch
    {
        Prim.Bool => "bool", Prim.Int8 => "sbyte", Prim.Int16 => "short", Prim.UInt16 => "ushort",
        Prim.Int32 => "int", Prim.UInt32 => "uint", Prim.Int64 => "long", Prim.Float64 => "double",
        Prim.Uuid => Uuid, Prim.String => "string", Prim.Bytes => "byte[]", Prim.Records => Memory,
        _ => ClassRef(m, f.Struct!),
    };

    public static string CsType(MessageDef m, FieldDef f)
    {
        bool nullable = IsNullableType(f);
        if (f.Type.IsArray) return $"{ListOf}<{ScalarType(m, f)}>" + (nullable ? "?" : "");
        if (f.Type.Prim == Prim.Records) return Memory + "?";
        return ScalarType(m, f) + (nullable && f.Type.CanBeNull ? "?" : "");
    }

    /// <summary>True when the field defaults to null: only an explicit default=null (Kafka's rule),
    /// and records fields that may be null.</summary>
    public static bool DefaultsToNull(FieldDef f) =>
        f.Default == "null" || (f.Type.Prim == Prim.Records && !f.Type.IsArray && IsNullableType(f));

    public static string DefaultExpr(MessageDef m, FieldDef f)
    {
        if (DefaultsToNull(f)) return "null";
        if (f.Type.IsArray) return "new()";
        if (f.Default is not null)
        {
            switch (f.Type.Prim)
            {
                case Prim.Float64: return f.Default + "d";
                case Prim.Int64: return f.Default + "L";
                case Prim.UInt32: return f.Default + "u";
                case Prim.Int8: return "(sbyte)" + f.Default;
                case Prim.Int16: return "(short)" + f.Default;
                case Prim.UInt16: return "(ushort)" + f.Default;
                default: return f.Default;
            }
        }
        return f.Type.Prim switch
        {
            Prim.Bool => "false", Prim.Uuid => Uuid + ".Zero", Prim.String => "\"\"",
            Prim.Bytes => "global::System.Array.Empty<byte>()", Prim.Records => Memory + ".Empty",
            Prim.Struct => "new()", Prim.Float64 => "0d", _ => "0",
        };
    }

    public static string IsDefaultExpr(MessageDef m, FieldDef f, string x)
    {
        bool toNull = DefaultsToNull(f);
        if (f.Type.IsArray) return toNull ? $"{x} is null" : $"({x} is not null && {x}.Count == 0)";
        return f.Type.Prim switch
        {
            Prim.Uuid => $"{x}.IsZero",
            Prim.String => toNull ? $"{x} is null" : $"{x} == {DefaultExpr(m, f)}",
            Prim.Bytes => toNull ? $"{x} is null" : $"({x} is not null && {x}.Length == 0)",
            Prim.Records => toNull ? $"!{x}.HasValue" : $"({x}.HasValue && {x}.Value.Length == 0)",
            Prim.Struct => toNull ? $"{x} is null" : $"({x} is not null && {x}.IsDefaultValue())",
            _ => $"{x} == {DefaultExpr(m, f)}",
        };
    }

    /// <summary>A C# condition on `version` that is true exactly within <paramref name="v"/> (given the message's range).</summary>
    public static string Cond(MessageDef m, Versions v)
    {
        var eff = v.Intersect(m.Versions);
        if (eff.IsNone) return "false";
        bool lowOk = eff.Lo <= m.Versions.Lo, highOk = eff.Hi >= m.Versions.Hi;
        if (lowOk && highOk) return "true";
        if (lowOk) return $"version <= {eff.Hi}";
        if (highOk) return $"version >= {eff.Lo}";
        return $"(version >= {eff.Lo} && version <= {eff.Hi})";
    }

    public static string NullableCond(MessageDef m, FieldDef f) => Cond(m, f.NullableVersions.Intersect(f.Versions));

    public static string FlexibleExpr(MessageDef m) => m.Flexible.IsNone ? "false" : Cond(m, m.Flexible);

    public static int FixedSize(Prim p) => p switch
    {
        Prim.Bool or Prim.Int8 => 1, Prim.Int16 or Prim.UInt16 => 2, Prim.Int32 or Prim.UInt32 => 4,
        Prim.Int64 or Prim.Float64 => 8, Prim.Uuid => 16, _ => -1,
    };

    public static string ReaderMethod(Prim p) => p switch
    {
        Prim.Bool => "ReadBool", Prim.Int8 => "ReadInt8", Prim.Int16 => "ReadInt16", Prim.UInt16 => "ReadUInt16",
        Prim.Int32 => "ReadInt32", Prim.UInt32 => "ReadUInt32", Prim.Int64 => "ReadInt64", Prim.Float64 => "ReadFloat64",
        _ => "ReadUuid",
    };

    public static string WriterMethod(Prim p) => "Write" + ReaderMethod(p).Substring(4);

    public static string SchemaExpr(MessageDef m, FieldDef f)
    {
        var structFields = f.Struct is null ? "null" : "new global::Fjord.Protocol.FieldSchema[] { " + string.Join(", ", f.Struct.Fields.Select(x => SchemaExpr(m, x))) + " }";
        return "new global::Fjord.Protocol.FieldSchema(" + string.Join(", ", new[]
        {
            Lit(f.Name), Lit(f.Type.Spelling), Range(f.Versions), Range(f.NullableVersions), f.Tag.ToString(CultureInfo.InvariantCulture),
            f.Default is null ? "null" : Lit(f.Default), f.Ignorable ? "true" : "false", f.IsKey ? "true" : "false",
            f.AlwaysClassic ? "true" : "false", f.Struct is null ? "null" : Lit(f.Struct.Name), structFields,
        }) + ")";
    }

    public static string Range(Versions v) => $"new global::Fjord.Protocol.VersionRange({v.Lo}, {v.Hi})";
}
