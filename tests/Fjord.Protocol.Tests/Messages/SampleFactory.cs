using System.Collections;
using System.Reflection;
using Fjord.Common;

namespace Fjord.Protocol.Tests.Messages;

/// <summary>
/// Builds a random instance of any generated message that is valid at a given version, driven by
/// the message's <see cref="MessageSchema"/>: every field that exists at that version gets a random
/// value (null where the version allows it), fields that do not exist keep their defaults.
/// Seeded, so any failure can be replayed.
/// </summary>
public sealed class SampleFactory(int seed)
{
    private readonly Random _random = new(seed);

    public IKafkaMessage Create(MessageType type, short version, bool withUnknownTags = false)
    {
        var message = type.Create();
        Fill(message, type.Schema.Fields, version, type.Schema.FlexibleVersions.Contains(version) && withUnknownTags);
        return message;
    }

    private void Fill(object target, IReadOnlyList<FieldSchema> fields, short version, bool unknownTags)
    {
        var cls = target.GetType();
        foreach (var field in fields)
        {
            if (!field.Versions.Contains(version)) continue;
            var property = cls.GetProperty(field.Name) ?? throw new InvalidOperationException($"{cls.Name} has no property {field.Name}");
            // Tagged fields are often left at their default, which is not written at all.
            if (field.IsTagged && _random.Next(3) == 0) continue;
            property.SetValue(target, Value(field, property.PropertyType, version, unknownTags));
        }
        if (unknownTags && _random.Next(2) == 0)
        {
            var unknown = new List<RawTaggedField>();
            int tag = 10_000 + _random.Next(100);
            for (int i = 0; i < 1 + _random.Next(2); i++)
            {
                var data = new byte[_random.Next(0, 5)];
                _random.NextBytes(data);
                unknown.Add(new RawTaggedField(tag, data));
                tag += 1 + _random.Next(50);
            }
            cls.GetProperty(nameof(IKafkaMessage.UnknownTaggedFields))!.SetValue(target, unknown);
        }
    }

    private object? Value(FieldSchema field, Type propertyType, short version, bool unknownTags)
    {
        if (field.NullableVersions.Contains(version) && _random.Next(5) == 0) return null;
        if (field.IsArray)
        {
            var elementType = propertyType.GetGenericArguments()[0];
            var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(elementType))!;
            int count = _random.Next(0, 4);
            for (int i = 0; i < count; i++)
                list.Add(Scalar(field, elementType, version, unknownTags));
            return list;
        }
        return Scalar(field, Nullable.GetUnderlyingType(propertyType) ?? propertyType, version, unknownTags);
    }

    private object Scalar(FieldSchema field, Type type, short version, bool unknownTags)
    {
        switch (field.ElementType)
        {
            case "bool": return _random.Next(2) == 1;
            case "int8": return (sbyte)_random.Next(sbyte.MinValue, sbyte.MaxValue + 1);
            case "int16": return (short)_random.Next(short.MinValue, short.MaxValue + 1);
            case "uint16": return (ushort)_random.Next(0, ushort.MaxValue + 1);
            case "int32": return _random.Next(int.MinValue, int.MaxValue);
            case "uint32": return (uint)_random.NextInt64(0, uint.MaxValue);
            case "int64": return _random.NextInt64(long.MinValue, long.MaxValue);
            case "float64": return _random.NextDouble() * 1e6;
            case "uuid": return new Uuid(_random.NextInt64(), _random.NextInt64());
            case "string": return RandomString();
            case "bytes":
            {
                var bytes = new byte[_random.Next(0, 20)];
                _random.NextBytes(bytes);
                return bytes;
            }
            case "records":
            {
                var bytes = new byte[_random.Next(0, 64)];
                _random.NextBytes(bytes);
                return new ReadOnlyMemory<byte>(bytes);
            }
            default:
            {
                var instance = Activator.CreateInstance(type)!;
                Fill(instance, field.StructFields!, version, unknownTags);
                return instance;
            }
        }
    }

    private string RandomString()
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz-_.0123456789ÆØÅ日本";
        var chars = new char[_random.Next(0, 12)];
        for (int i = 0; i < chars.Length; i++) chars[i] = alphabet[_random.Next(alphabet.Length)];
        return new string(chars);
    }

    public static IEnumerable<short> Versions(MessageSchema schema)
    {
        for (int v = schema.Versions.Lowest; v <= schema.Versions.Highest; v++) yield return (short)v;
    }

    /// <summary>Reads back with the message type's decoder, requiring the whole buffer to be consumed.</summary>
    public static IKafkaMessage Decode(MessageType type, byte[] bytes, short version)
    {
        var reader = new KafkaReader(bytes);
        var message = type.Read(ref reader, version);
        reader.EnsureAtEnd(type.Schema.Name);
        return message;
    }
}
