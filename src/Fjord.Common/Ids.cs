namespace Fjord.Common;

/// <summary>A broker or controller id (<c>node.id</c>). -1 means "none".</summary>
public readonly record struct NodeId(int Value)
{
    public static readonly NodeId None = new(-1);
    public bool IsNone => Value < 0;
    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A leader epoch or Raft epoch. Epochs only move forward.</summary>
public readonly record struct Epoch(int Value) : IComparable<Epoch>
{
    public static readonly Epoch None = new(-1);
    public int CompareTo(Epoch other) => Value.CompareTo(other.Value);
    public static bool operator <(Epoch a, Epoch b) => a.Value < b.Value;
    public static bool operator >(Epoch a, Epoch b) => a.Value > b.Value;
    public static bool operator <=(Epoch a, Epoch b) => a.Value <= b.Value;
    public static bool operator >=(Epoch a, Epoch b) => a.Value >= b.Value;
    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A position in a partition log.</summary>
public readonly record struct Offset(long Value) : IComparable<Offset>
{
    public static readonly Offset None = new(-1);
    public int CompareTo(Offset other) => Value.CompareTo(other.Value);
    public static bool operator <(Offset a, Offset b) => a.Value < b.Value;
    public static bool operator >(Offset a, Offset b) => a.Value > b.Value;
    public static bool operator <=(Offset a, Offset b) => a.Value <= b.Value;
    public static bool operator >=(Offset a, Offset b) => a.Value >= b.Value;
    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A topic's permanent id (KIP-516).</summary>
public readonly record struct TopicId(Uuid Value)
{
    public static readonly TopicId None = new(Uuid.Zero);
    public override string ToString() => Value.ToString();
}
