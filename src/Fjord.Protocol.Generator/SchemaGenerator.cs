using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Fjord.Protocol.Generator;

/// <summary>
/// The Roslyn incremental generator: every AdditionalFiles item ending in .schema is parsed,
/// and each message becomes a source file; the registries are emitted over all of them.
/// Schema errors are compiler errors (FJ0001) pointing at the schema file and line.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class SchemaGenerator : IIncrementalGenerator
{
    private static readonly DiagnosticDescriptor SchemaErrorDescriptor = new(
        "FJ0001", "Schema error", "{0}", "Fjord.Schema", DiagnosticSeverity.Error, isEnabledByDefault: true);

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var files = context.AdditionalTextsProvider
            .Where(t => t.Path.EndsWith(".schema", System.StringComparison.OrdinalIgnoreCase))
            .Select((t, ct) => (t.Path, Text: t.GetText(ct)?.ToString() ?? ""))
            .Collect();
        context.RegisterSourceOutput(files, static (spc, all) => Run(spc, all));
    }

    private static void Run(SourceProductionContext spc, ImmutableArray<(string Path, string Text)> inputs)
    {
        var result = GenerateAll(inputs.OrderBy(i => i.Path, System.StringComparer.Ordinal).Select(i => (i.Path, i.Text)));
        foreach (var e in result.Errors)
        {
            var location = Location.Create(e.Path, new TextSpan(0, 0), new LinePositionSpan(new LinePosition(e.Line - 1, 0), new LinePosition(e.Line - 1, 0)));
            spc.ReportDiagnostic(Diagnostic.Create(SchemaErrorDescriptor, location, e.Message));
        }
        foreach (var (hint, source) in result.Sources)
            spc.AddSource(hint, SourceText.From(source, Encoding.UTF8));
    }

    /// <summary>The whole generation as a pure function (also what the generator's tests call).</summary>
    public static GenerationResult GenerateAll(IEnumerable<(string Path, string Text)> inputs)
    {
        var errors = new List<SchemaError>();
        var messages = new List<MessageDef>();
        foreach (var (path, text) in inputs)
            messages.AddRange(SchemaParser.Parse(path, text, errors).Messages);
        foreach (var dup in messages.GroupBy(m => Emit.Namespace(m) + "." + m.Name).Where(g => g.Count() > 1))
            errors.Add(new SchemaError(dup.Last().FileName, dup.Last().Line, $"message {dup.Key} is declared more than once"));
        var sources = new List<(string, string)>();
        if (errors.Count == 0)
        {
            foreach (var m in messages)
                sources.Add((Emit.Namespace(m) + "." + m.Name + ".g.cs", MessageEmitter.Emit(m)));
            var registry = RegistryEmitter.Emit(messages, errors);
            if (errors.Count == 0) sources.Add(("Fjord.Protocol.Registry.g.cs", registry));
        }
        return new GenerationResult(sources, errors);
    }
}

public sealed class GenerationResult
{
    public GenerationResult(List<(string Hint, string Source)> sources, List<SchemaError> errors) { Sources = sources; Errors = errors; }
    public List<(string Hint, string Source)> Sources { get; }
    public List<SchemaError> Errors { get; }
}
