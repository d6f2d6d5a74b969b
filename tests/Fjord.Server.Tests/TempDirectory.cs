using Fjord.Common;

namespace Fjord.Server.Tests;

/// <summary>A directory of its own for one test, deleted afterwards.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Path = Directory.CreateTempSubdirectory("fjord-server-").FullName;

    public string Path { get; }

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Writes <paramref name="text"/> to a file in this directory and returns its path.</summary>
    public string WriteFile(string name, string text)
    {
        var path = Sub(name);
        File.WriteAllText(path, text);
        return path;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

internal sealed class FixedClock(long unixTimeMs) : IClock
{
    public long UnixTimeMs => unixTimeMs;
    public long MonotonicMs => 0;
}
