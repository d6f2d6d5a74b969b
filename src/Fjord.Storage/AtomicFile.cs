using Microsoft.Win32.SafeHandles;

namespace Fjord.Storage;

/// <summary>
/// Crash-safe whole-file writes: the new contents go to <c>&lt;path&gt;.tmp</c>, which is fsynced,
/// renamed over <c>&lt;path&gt;</c>, and then the directory is fsynced so the rename itself is durable.
/// After a crash a reader finds either the old file or the new one, never a mixture.
/// </summary>
public static class AtomicFile
{
    public const string TempSuffix = ".tmp";

    public static void Write(string path, ReadOnlySpan<byte> contents)
    {
        var temp = path + TempSuffix;
        using (var handle = File.OpenHandle(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            RandomAccess.Write(handle, contents, 0);
            RandomAccess.FlushToDisk(handle);
        }
        File.Move(temp, path, overwrite: true);
        FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    public static void WriteText(string path, string text) => Write(path, System.Text.Encoding.UTF8.GetBytes(text));

    /// <summary>Makes a directory's entries (creations, renames, deletions) durable.</summary>
    public static void FsyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        int fd = Native.open(directory, Native.O_RDONLY | Native.O_DIRECTORY);
        if (fd < 0) throw new IOException($"cannot open directory {directory} to fsync it (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})");
        try
        {
            if (Native.fsync(fd) != 0)
                throw new IOException($"fsync of directory {directory} failed (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})");
        }
        finally { Native.close(fd); }
    }

    /// <summary>Removes a leftover <c>.tmp</c> from an interrupted write; the real file is untouched.</summary>
    public static void DeleteLeftoverTemp(string path)
    {
        var temp = path + TempSuffix;
        if (File.Exists(temp)) File.Delete(temp);
    }

    /// <summary>fsyncs an open file's data and metadata.</summary>
    public static void Flush(SafeFileHandle handle) => RandomAccess.FlushToDisk(handle);

    private static class Native
    {
        public const int O_RDONLY = 0;
        public const int O_DIRECTORY = 0x10000; // Linux x64/arm64

        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
        public static extern int open([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string path, int flags);

        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);

        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
    }
}
