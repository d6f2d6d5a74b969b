using System.Reflection;
using BenchmarkDotNet.Reports;

namespace Fjord.Benchmarks;

/// <summary>Marks a benchmark with the bytes one invocation processes and the target it is held to,
/// so the closing table can print MB/s and allocations beside the reference.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class TargetAttribute(string reference) : Attribute
{
    public string Reference { get; } = reference;
}

/// <summary>A benchmark class whose instances know how many bytes (and records) one invocation handles.</summary>
public interface IMeasuredBytes
{
    long BytesPerOperation { get; }
    long RecordsPerOperation { get; }
}

public static class Throughput
{
    public static void PrintTable(IEnumerable<Summary> summaries)
    {
        Console.WriteLine();
        Console.WriteLine("== Fjord benchmark figures (this machine, this run) ==");
        Console.WriteLine($"{"benchmark",-52} {"mean",12} {"MB/s",10} {"alloc/op",12} {"alloc/record",13}  reference");
        foreach (var summary in summaries)
        {
            foreach (var report in summary.Reports)
            {
                var method = report.BenchmarkCase.Descriptor.WorkloadMethod;
                var type = report.BenchmarkCase.Descriptor.Type;
                var instance = (IMeasuredBytes)Activator.CreateInstance(type)!;
                SetParams(instance, report);
                InvokeSetup(type, instance);
                var stats = report.ResultStatistics;
                if (stats is null) { Console.WriteLine($"{type.Name}.{method.Name}: no result"); continue; }
                double seconds = stats.Mean / 1e9;
                double mbPerSecond = instance.BytesPerOperation / seconds / 1e6;
                long allocated = report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase) ?? -1;
                string perRecord = instance.RecordsPerOperation > 0 ? $"{(double)allocated / instance.RecordsPerOperation,10:F3} B" : "";
                var target = method.GetCustomAttribute<TargetAttribute>()?.Reference ?? "";
                string name = type.Name + "." + method.Name + ParamText(report);
                Console.WriteLine($"{name,-52} {FormatTime(stats.Mean),12} {mbPerSecond,10:F0} {allocated,10} B {perRecord,13}  {target}");
            }
        }
    }

    private static void SetParams(object instance, BenchmarkReport report)
    {
        foreach (var p in report.BenchmarkCase.Parameters.Items)
            instance.GetType().GetProperty(p.Name)?.SetValue(instance, p.Value);
    }

    private static string ParamText(BenchmarkReport report) =>
        report.BenchmarkCase.Parameters.Count == 0 ? "" : "(" + string.Join(",", report.BenchmarkCase.Parameters.Items.Select(p => p.Value)) + ")";

    private static void InvokeSetup(Type type, object instance)
    {
        var setup = type.GetMethods().FirstOrDefault(m => m.GetCustomAttribute<BenchmarkDotNet.Attributes.GlobalSetupAttribute>() is not null);
        setup?.Invoke(instance, null);
    }

    private static string FormatTime(double ns) =>
        ns >= 1e6 ? $"{ns / 1e6:F2} ms" : ns >= 1e3 ? $"{ns / 1e3:F2} us" : $"{ns:F0} ns";
}
