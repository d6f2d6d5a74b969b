using System.Runtime.InteropServices;
using Fjord.Server;
using Fjord.Server.Controller;
using Fjord.Server.Node;
using Fjord.Storage;

namespace Fjord.Cli;

/// <summary>
/// <c>fjord server start --config FILE | --dev [--data DIR]</c>: runs a node until SIGTERM or Ctrl-C
/// (then stops it gracefully and exits 0): a controller (<see cref="ControllerServer"/>), or a broker
/// or combined node (<see cref="BrokerServer"/>). <c>--dev</c> runs one combined node on
/// 127.0.0.1:9092 (controller on 9093) over DIR, formatting it on first use (<see cref="DevNode"/>).
/// Configuration and storage problems exit 1 with one line on stderr, as does a fault while running.
/// </summary>
public static class ServerCommand
{
    private const string Usage = """
        usage: fjord server start --config FILE [--verbose]
               fjord server start --dev [--data DIR] [--verbose]

        Runs this node until SIGTERM or Ctrl-C: process.roles=controller, broker, or broker,controller.
          -c, --config FILE   the server.properties of this node (Kafka's keys)
          --dev               one combined node on 127.0.0.1:9092 (controller 127.0.0.1:9093), its data
                              in DIR (default ./fjord-dev-data), formatted on first use
          --data DIR          the dev node's data directory
          -v, --verbose       also print Raft traces and connection events (stderr)
        """;

    public static int Run(string[] args, TextWriter o, TextWriter e) => Run(args, o, e, CancellationToken.None);

    /// <summary>As <see cref="Run(string[], TextWriter, TextWriter)"/>; <paramref name="stop"/> stops the
    /// server as a signal would (for tests hosting the command in-process).</summary>
    public static int Run(string[] args, TextWriter o, TextWriter e, CancellationToken stop)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length == 0) return UsageError(e, "a command is needed: start");
        if (args[0] is "-h" or "--help" or "help" || args.Contains("--help") || args.Contains("-h"))
        {
            o.WriteLine(Usage);
            return 0;
        }
        if (args[0] != "start") return UsageError(e, $"unknown server command '{args[0]}' (only start)");
        string? configPath = null;
        string? devData = null;
        bool dev = false;
        bool verbose = false;
        for (int i = 1; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg.StartsWith("--config=", StringComparison.Ordinal)) configPath = arg["--config=".Length..];
            else if (arg is "--config" or "-c")
            {
                if (i + 1 >= args.Length) return UsageError(e, "--config needs a FILE");
                configPath = args[++i];
            }
            else if (arg is "--verbose" or "-v") verbose = true;
            else if (arg == "--dev") dev = true;
            else if (arg == "--data")
            {
                if (i + 1 >= args.Length) return UsageError(e, "--data needs a DIR");
                devData = args[++i];
            }
            else return UsageError(e, $"unknown option '{arg}'");
        }
        if (dev && configPath is not null) return UsageError(e, "--dev and --config exclude each other");
        if (!dev && devData is not null) return UsageError(e, "--data goes with --dev");
        if (!dev && configPath is null) return UsageError(e, "start needs --config FILE (or --dev)");

        var output = TextWriter.Synchronized(o);
        var errors = TextWriter.Synchronized(e);
        ServerConfig config;
        try
        {
            config = dev ? DevNode.Prepare(devData ?? DevNode.DefaultDataDirectory, output) : ServerConfig.Load(configPath!);
            configPath ??= Path.Combine(devData ?? DevNode.DefaultDataDirectory, DevNode.ConfigFileName);
        }
        catch (Exception ex) when (ex is ConfigException or PropertiesFormatException or IOException or UnauthorizedAccessException
                                       or StorageFormatException)
        {
            errors.WriteLine($"fjord: {OneLine(ex.Message)}");
            return 1;
        }
        foreach (var warning in config.Warnings) errors.WriteLine($"fjord: warning: {configPath}: {warning}");

        // A server must not let a starved thread pool delay its sockets (and so Raft's timers).
        ThreadPool.GetMinThreads(out int workers, out int io);
        ThreadPool.SetMinThreads(Math.Max(workers, 8), Math.Max(io, 8));

        using var signalled = CancellationTokenSource.CreateLinkedTokenSource(stop);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var sigquit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, Stop);

        IRunningNode server;
        try
        {
            server = config.IsBroker
                ? new RunningBroker(BrokerServer.Start(config, output.WriteLine, verbose ? errors.WriteLine : null))
                : new RunningController(ControllerServer.Start(config, output.WriteLine, verbose ? errors.WriteLine : null));
        }
        catch (ServerNotSupportedException ex)
        {
            errors.WriteLine($"fjord: {ex.Message}");
            return 2;
        }
        catch (Exception ex) when (ex is ConfigException or StorageCheckException or ServerStartException or StorageException
                                       or IOException or UnauthorizedAccessException)
        {
            errors.WriteLine($"fjord: {OneLine(ex.Message)}");
            return 1;
        }

        Task.WaitAny(server.Completion, Task.Delay(Timeout.Infinite, signalled.Token).ContinueWith(_ => { }, TaskScheduler.Default));
        server.StopAsync().GetAwaiter().GetResult();
        if (server.Fault is { } fault)
        {
            errors.WriteLine($"fjord: the node failed: {OneLine(fault.Message)}");
            return 1;
        }
        return 0;

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true; // stop gracefully instead of the default termination
            signalled.Cancel();
        }
    }

    /// <summary>What the command needs of a running node, whichever its roles.</summary>
    private interface IRunningNode
    {
        Task Completion { get; }
        Exception? Fault { get; }
        Task StopAsync();
    }

    private sealed class RunningController(ControllerServer server) : IRunningNode
    {
        public Task Completion => server.Completion;
        public Exception? Fault => server.Fault;
        public Task StopAsync() => server.StopAsync();
    }

    private sealed class RunningBroker(BrokerServer server) : IRunningNode
    {
        public Task Completion => server.Completion;
        public Exception? Fault => server.Fault;
        public Task StopAsync() => server.StopAsync();
    }

    private static string OneLine(string text) => text.Replace("\r", " ", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    private static int UsageError(TextWriter e, string message)
    {
        e.WriteLine($"fjord server: {message}");
        e.WriteLine("Run 'fjord server --help' for usage.");
        return 2;
    }
}
