using System.Globalization;
using System.Text;

namespace Fjord.Cli.Shell;

/// <summary>
/// The shell's commands over a <see cref="ShellDirectory"/> tree: <c>ls [-l]</c>, <c>cd</c>,
/// <c>pwd</c>, <c>cat</c>, <c>find</c>, <c>tree</c>, <c>history</c>, <c>help</c>, <c>exit</c>.
/// Paths are absolute (<c>/brokers/1</c>) or relative to the working directory, with <c>.</c>,
/// <c>..</c> and glob components (<c>*</c>, <c>?</c>: <c>cat /brokers/*/isFenced</c>). A line may
/// hold several commands separated by <c>;</c>; words may be quoted with <c>'</c> or <c>"</c>.
/// </summary>
/// <remarks>Not thread-safe: one session per shell. Output goes to the writers a call is given;
/// a command's failure is one line on the error writer and makes <see cref="Execute"/> return
/// <see cref="Outcome.Failed"/>; nothing throws for bad input.</remarks>
public sealed class ShellSession(ShellDirectory root)
{
    public enum Outcome { Ok, Failed, Exit }

    public static readonly IReadOnlyList<(string Name, string Usage, string Summary)> Commands =
    [
        ("cat", "cat PATH...", "print the content of files"),
        ("cd", "cd [PATH]", "change the working directory (no PATH: /)"),
        ("exit", "exit", "leave the shell"),
        ("find", "find [PATH...]", "print every path under PATH (default: the working directory)"),
        ("help", "help", "this list"),
        ("history", "history [N]", "the commands typed so far (the last N)"),
        ("ls", "ls [-l] [PATH...]", "list directories (-l: type, size and name)"),
        ("pwd", "pwd", "print the working directory"),
        ("tree", "tree [PATH]", "the tree under PATH, with the value of one-line files"),
    ];

    private readonly List<string> _history = [];
    private List<string> _cwd = [];

    public ShellDirectory Root { get; } = root;

    public IReadOnlyList<string> History => _history;

    public string WorkingDirectory => "/" + string.Join("/", _cwd);

    /// <summary>Runs one line (which may hold several <c>;</c>-separated commands) and records it in the history.</summary>
    public Outcome Execute(string line, TextWriter o, TextWriter e)
    {
        ArgumentNullException.ThrowIfNull(line);
        if (line.Trim().Length == 0) return Outcome.Ok;
        _history.Add(line.Trim());
        var outcome = Outcome.Ok;
        foreach (var command in SplitCommands(line))
        {
            if (!TryTokenize(command, out var words, out var problem))
            {
                e.WriteLine($"error: {problem}");
                outcome = Outcome.Failed;
                continue;
            }
            if (words.Count == 0) continue;
            var result = Run(words, o, e);
            if (result == Outcome.Exit) return Outcome.Exit;
            if (result == Outcome.Failed) outcome = Outcome.Failed;
        }
        return outcome;
    }

    private Outcome Run(List<string> words, TextWriter o, TextWriter e)
    {
        var args = words.Skip(1).ToList();
        switch (words[0])
        {
            case "ls": return Ls(args, o, e);
            case "cd": return Cd(args, e);
            case "pwd":
                o.WriteLine(WorkingDirectory);
                return Outcome.Ok;
            case "cat": return Cat(args, o, e);
            case "find": return Find(args, o, e);
            case "tree": return Tree(args, o, e);
            case "history": return HistoryCommand(args, o, e);
            case "help":
                o.WriteLine("commands:");
                foreach (var (_, usage, summary) in Commands) o.WriteLine($"  {usage,-20} {summary}");
                o.WriteLine("Paths may be relative, use . and .., and globs (* and ?). Separate commands with ';'.");
                return Outcome.Ok;
            case "exit" or "quit": return Outcome.Exit;
            default:
                e.WriteLine($"error: unknown command '{words[0]}' (try help)");
                return Outcome.Failed;
        }
    }

    // ---- paths ----

    /// <summary>The absolute components of <paramref name="path"/> (relative to the working directory), with . and .. applied.</summary>
    public List<string> Components(string path)
    {
        var result = path.StartsWith('/') ? new List<string>() : new List<string>(_cwd);
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (part == "..")
            {
                if (result.Count > 0) result.RemoveAt(result.Count - 1);
                continue;
            }
            result.Add(part);
        }
        return result;
    }

    public static string Join(IEnumerable<string> components) => "/" + string.Join("/", components);

    /// <summary>Every node <paramref name="path"/> names (several with globs, none when nothing matches), with its absolute path.</summary>
    public List<(string Path, ShellNode Node)> Resolve(string path)
    {
        var matches = new List<(List<string> Parts, ShellNode Node)> { ([], Root) };
        foreach (var part in Components(path))
        {
            var next = new List<(List<string>, ShellNode)>();
            foreach (var (parts, node) in matches)
            {
                if (node is not ShellDirectory dir) continue;
                if (IsGlob(part))
                {
                    foreach (var child in dir.Children)
                        if (GlobMatch(part, child.Name)) next.Add(([.. parts, child.Name], child));
                }
                else if (dir.Child(part) is { } child) next.Add(([.. parts, part], child));
            }
            matches = next;
            if (matches.Count == 0) break;
        }
        return [.. matches.Select(m => (Join(m.Parts), m.Node))];
    }

    public static bool IsGlob(string text) => text.AsSpan().IndexOfAny('*', '?') >= 0;

    /// <summary><c>*</c> any run of characters, <c>?</c> one character; everything else literally.</summary>
    public static bool GlobMatch(string pattern, string text)
    {
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t])) { p++; t++; }
            else if (p < pattern.Length && pattern[p] == '*') { star = p++; mark = t; }
            else if (star >= 0) { p = star + 1; t = ++mark; }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }

    // ---- commands ----

    private Outcome Ls(List<string> args, TextWriter o, TextWriter e)
    {
        bool longFormat = false;
        var paths = new List<string>();
        foreach (var a in args)
        {
            if (a == "-l") longFormat = true;
            else if (a.StartsWith('-') && a.Length > 1) { e.WriteLine($"ls: unknown option '{a}' (only -l)"); return Outcome.Failed; }
            else paths.Add(a);
        }
        if (paths.Count == 0) paths.Add(".");
        var outcome = Outcome.Ok;
        var targets = new List<(string Path, ShellNode Node)>();
        foreach (var path in paths)
        {
            var found = Resolve(path);
            if (found.Count == 0)
            {
                e.WriteLine($"ls: {path}: no such file or directory");
                outcome = Outcome.Failed;
            }
            targets.AddRange(found);
        }
        // Files first (as ls does), then each directory's listing under a header when there are several.
        var files = targets.Where(t => t.Node is ShellFile).ToList();
        var dirs = targets.Where(t => t.Node is ShellDirectory).ToList();
        foreach (var (path, node) in files) o.WriteLine(longFormat ? LongLine(node, path) : path);
        bool headers = targets.Count > 1;
        for (int i = 0; i < dirs.Count; i++)
        {
            var (path, node) = dirs[i];
            if (headers)
            {
                if (i > 0 || files.Count > 0) o.WriteLine();
                o.WriteLine($"{path}:");
            }
            foreach (var child in ((ShellDirectory)node).Children) o.WriteLine(longFormat ? LongLine(child, child.Name) : child.Name);
        }
        return outcome;
    }

    private static string LongLine(ShellNode node, string name) => node switch
    {
        ShellDirectory d => string.Create(CultureInfo.InvariantCulture, $"d {d.Count,8} {name}/"),
        ShellFile f => string.Create(CultureInfo.InvariantCulture, $"- {Encoding.UTF8.GetByteCount(f.Content),8} {name}"),
        _ => name,
    };

    private Outcome Cd(List<string> args, TextWriter e)
    {
        if (args.Count > 1) { e.WriteLine("cd: too many arguments"); return Outcome.Failed; }
        string path = args.Count == 0 ? "/" : args[0];
        var found = Resolve(path);
        if (found.Count == 0) { e.WriteLine($"cd: {path}: no such directory"); return Outcome.Failed; }
        if (found.Count > 1) { e.WriteLine($"cd: {path}: names {found.Count} directories"); return Outcome.Failed; }
        if (found[0].Node is not ShellDirectory) { e.WriteLine($"cd: {path}: not a directory"); return Outcome.Failed; }
        _cwd = Components(found[0].Path);
        return Outcome.Ok;
    }

    private Outcome Cat(List<string> args, TextWriter o, TextWriter e)
    {
        if (args.Count == 0) { e.WriteLine("cat: a PATH is needed"); return Outcome.Failed; }
        var outcome = Outcome.Ok;
        foreach (var path in args)
        {
            var found = Resolve(path);
            if (found.Count == 0)
            {
                e.WriteLine($"cat: {path}: no such file or directory");
                outcome = Outcome.Failed;
                continue;
            }
            foreach (var (absolute, node) in found)
            {
                if (node is ShellFile file) o.WriteLine(found.Count > 1 || IsGlob(path) ? $"{absolute}: {file.Content}" : file.Content);
                else
                {
                    e.WriteLine($"cat: {absolute}: is a directory");
                    outcome = Outcome.Failed;
                }
            }
        }
        return outcome;
    }

    private Outcome Find(List<string> args, TextWriter o, TextWriter e)
    {
        if (args.Count == 0) args = ["."];
        var outcome = Outcome.Ok;
        foreach (var path in args)
        {
            var found = Resolve(path);
            if (found.Count == 0)
            {
                e.WriteLine($"find: {path}: no such file or directory");
                outcome = Outcome.Failed;
            }
            foreach (var (absolute, node) in found) Walk(absolute, node, o);
        }
        return outcome;

        static void Walk(string path, ShellNode node, TextWriter o)
        {
            o.WriteLine(path);
            if (node is ShellDirectory dir)
                foreach (var child in dir.Children) Walk(path == "/" ? "/" + child.Name : path + "/" + child.Name, child, o);
        }
    }

    private Outcome Tree(List<string> args, TextWriter o, TextWriter e)
    {
        if (args.Count > 1) { e.WriteLine("tree: at most one PATH"); return Outcome.Failed; }
        string path = args.Count == 0 ? "." : args[0];
        var found = Resolve(path);
        if (found.Count == 0) { e.WriteLine($"tree: {path}: no such file or directory"); return Outcome.Failed; }
        foreach (var (absolute, node) in found)
        {
            o.WriteLine(Label(node, absolute));
            if (node is ShellDirectory dir) Draw(dir, "", o);
        }
        return Outcome.Ok;

        static void Draw(ShellDirectory dir, string indent, TextWriter o)
        {
            var children = dir.Children.ToList();
            for (int i = 0; i < children.Count; i++)
            {
                bool last = i == children.Count - 1;
                o.WriteLine(indent + (last ? "└── " : "├── ") + Label(children[i], children[i].Name));
                if (children[i] is ShellDirectory sub) Draw(sub, indent + (last ? "    " : "│   "), o);
            }
        }

        static string Label(ShellNode node, string name) =>
            node is ShellFile f && f.Content.Length <= 80 && !f.Content.Contains('\n', StringComparison.Ordinal) ? $"{name}: {f.Content}" : name;
    }

    private Outcome HistoryCommand(List<string> args, TextWriter o, TextWriter e)
    {
        int count = _history.Count;
        if (args.Count == 1)
        {
            if (!int.TryParse(args[0], NumberStyles.None, CultureInfo.InvariantCulture, out count)) { e.WriteLine($"history: '{args[0]}' is not a count"); return Outcome.Failed; }
        }
        else if (args.Count > 1) { e.WriteLine("history: at most one argument (N)"); return Outcome.Failed; }
        int start = Math.Max(0, _history.Count - count);
        for (int i = start; i < _history.Count; i++) o.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{i + 1,5}  {_history[i]}"));
        return Outcome.Ok;
    }

    // ---- lines and words ----

    /// <summary>Splits a line at the <c>;</c> outside quotes.</summary>
    public static List<string> SplitCommands(string line)
    {
        var result = new List<string>();
        var current = new StringBuilder();
        char quote = '\0';
        foreach (char c in line)
        {
            if (quote != '\0') { if (c == quote) quote = '\0'; current.Append(c); }
            else if (c is '\'' or '"') { quote = c; current.Append(c); }
            else if (c == ';') { result.Add(current.ToString()); current.Clear(); }
            else current.Append(c);
        }
        result.Add(current.ToString());
        return result;
    }

    /// <summary>Words separated by blanks; quotes group (and are removed). False for an unterminated quote.</summary>
    public static bool TryTokenize(string command, out List<string> words, out string problem)
    {
        words = [];
        problem = "";
        var current = new StringBuilder();
        bool inWord = false;
        char quote = '\0';
        foreach (char c in command)
        {
            if (quote != '\0')
            {
                if (c == quote) quote = '\0';
                else current.Append(c);
            }
            else if (c is '\'' or '"') { quote = c; inWord = true; }
            else if (char.IsWhiteSpace(c))
            {
                if (inWord) { words.Add(current.ToString()); current.Clear(); inWord = false; }
            }
            else { current.Append(c); inWord = true; }
        }
        if (quote != '\0') { problem = $"unterminated {quote} quote"; return false; }
        if (inWord) words.Add(current.ToString());
        return true;
    }

    // ---- completion ----

    /// <summary>
    /// Completions of the last word of <paramref name="line"/> (the text before the cursor): command
    /// names for the first word, paths otherwise (directories end with <c>/</c>). Returns the start of
    /// the word being completed and the full candidate words.
    /// </summary>
    public (int WordStart, List<string> Candidates) Complete(string line)
    {
        int commandStart = line.LastIndexOf(';') + 1;
        int wordStart = line.LastIndexOf(' ') + 1;
        if (wordStart < commandStart) wordStart = commandStart;
        string word = line[wordStart..];
        bool firstWord = line[commandStart..wordStart].Trim().Length == 0;
        if (firstWord)
            return (wordStart, [.. Commands.Select(c => c.Name).Where(n => n.StartsWith(word, StringComparison.Ordinal))]);
        int slash = word.LastIndexOf('/');
        string dirPart = slash >= 0 ? word[..(slash + 1)] : "";
        string prefix = slash >= 0 ? word[(slash + 1)..] : word;
        var dirs = Resolve(dirPart.Length == 0 ? "." : dirPart);
        if (dirs.Count != 1 || dirs[0].Node is not ShellDirectory dir) return (wordStart, []);
        var candidates = new List<string>();
        if (prefix is "." or "..") candidates.Add(dirPart + prefix + "/");
        foreach (var child in dir.Children)
            if (child.Name.StartsWith(prefix, StringComparison.Ordinal))
                candidates.Add(dirPart + child.Name + (child is ShellDirectory ? "/" : ""));
        return (wordStart, candidates);
    }
}
