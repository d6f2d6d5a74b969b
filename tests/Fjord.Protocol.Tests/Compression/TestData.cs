namespace Fjord.Protocol.Tests.Compression;

/// <summary>Test inputs: vector files copied next to the test assembly, and seeded generated data.</summary>
internal static class TestData
{
    public static byte[] Read(string relativePath) =>
        File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, relativePath.Replace('/', Path.DirectorySeparatorChar)));

    public static byte[] Random(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Highly compressible: a short phrase repeated with a slowly changing counter.</summary>
    public static byte[] Repetitive(int length)
    {
        var bytes = new byte[length];
        var phrase = "the quick brown fox jumps over the lazy dog "u8;
        for (int i = 0; i < length; i++)
            bytes[i] = i % 4096 < 8 ? (byte)(i / 4096) : phrase[i % phrase.Length];
        return bytes;
    }

    /// <summary>Text-like data with a mix of repeats and novelty (compresses moderately).</summary>
    public static byte[] Text(int length, int seed)
    {
        var random = new Random(seed);
        string[] words = ["alpha", "beta", "gamma", "delta", "epsilon", "kafka", "fjord", "record", "batch", "offset", "\n"];
        var output = new List<byte>(length + 16);
        while (output.Count < length)
        {
            output.AddRange(System.Text.Encoding.ASCII.GetBytes(words[random.Next(words.Length)]));
            output.Add((byte)(random.Next(4) == 0 ? '0' + random.Next(10) : ' '));
        }
        return output.GetRange(0, length).ToArray();
    }
}
