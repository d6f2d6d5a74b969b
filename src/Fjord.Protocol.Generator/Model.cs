using System.Collections.Generic;

namespace Fjord.Protocol.Generator;

/// <summary>An inclusive version range; Hi = short.MaxValue means "and later"; Lo > Hi means none.</summary>
public readonly struct Versions
{
    public Versions(short lo, short hi) { Lo = lo; Hi = hi; }
    public short Lo { get; }
    public short Hi { get; }
    public static Versions None => new(1, 0);
    public bool IsNone => Lo > Hi;
    public bool Contains(short v) => v >= Lo && v <= Hi;
    public bool Covers(Versions other) => other.IsNone || (!IsNone && Lo <= other.Lo && Hi >= other.Hi);
    public Versions Intersect(Versions other)
    {
        if (IsNone || other.IsNone) return None;
        var lo = Lo > other.Lo ? Lo : other.Lo;
        var hi = Hi < other.Hi ? Hi : other.Hi;
        return lo > hi ? None : new Versions(lo, hi);
    }
    public override string ToString() => IsNone ? "none" : Hi == short.MaxValue ? Lo + "+" : Lo == Hi ? Lo.ToString() : Lo + "-" + Hi;
}

public enum Kind { Request, Response, Header, Metadata, Data, Struct }

public enum Prim { Bool, Int8, Int16, UInt16, Int32, UInt32, Int64, Float64, Uuid, String, Bytes, Records, Struct }

/// <summary>A field's type: a primitive, a struct, or an array of either.</summary>
public sealed class TypeRef
{
    public TypeRef(Prim prim, bool isArray, string? structName, string spelling)
    {
        Prim = prim; IsArray = isArray; StructName = structName; Spelling = spelling;
    }
    public Prim Prim { get; }
    public bool IsArray { get; }
    public string? StructName { get; }
    public string Spelling { get; }
    public bool IsStruct => Prim == Prim.Struct;
    /// <summary>Types that may be null on the wire.</summary>
    public bool CanBeNull => IsArray || Prim is Prim.String or Prim.Bytes or Prim.Records or Prim.Struct;
}

public sealed class FieldDef
{
    public string Name = "";
    public TypeRef Type = null!;
    public Versions Versions;
    public Versions NullableVersions = Versions.None;
    public int Tag = -1;
    public string? Default;
    public bool Ignorable;
    public bool IsKey;
    public bool AlwaysClassic;
    public string? Doc;
    public int Line;
    /// <summary>Fields of the struct this field holds (inline or resolved from a common struct).</summary>
    public StructDef? Struct;
    public bool IsTagged => Tag >= 0;
}

public sealed class StructDef
{
    public string Name = "";
    public List<FieldDef> Fields = new();
    /// <summary>The C# class name (the struct name, or with a suffix when it would collide).</summary>
    public string ClassName = "";
}

public sealed class MessageDef
{
    public Kind Kind;
    public string Name = "";
    public short ApiKey = -1;
    public Versions Versions;
    public Versions Flexible = Versions.None;
    public List<string> Listeners = new();
    public List<FieldDef> Fields = new();
    public string? Doc;
    public int Line;
    public string FileName = "";
    /// <summary>Every struct of the message, depth-first, after resolution.</summary>
    public List<StructDef> AllStructs = new();
}

public sealed class SchemaFile
{
    public string Path = "";
    public List<MessageDef> Messages = new();
    public List<MessageDef> CommonStructs = new();
}

public sealed class SchemaError
{
    public SchemaError(string path, int line, string message) { Path = path; Line = line; Message = message; }
    public string Path { get; }
    public int Line { get; }
    public string Message { get; }
    public override string ToString() => Path + "(" + Line + "): " + Message;
}
