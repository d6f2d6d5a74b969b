using System.Diagnostics;
using System.Text;
using Fjord.Cli.Shell;
using Fjord.Cluster.Tests;
using Xunit.Abstractions;

namespace Fjord.Tools.Tests;

/// <summary>
/// The line editor when prompt + line wrap over several terminal rows: every key drawn through a
/// small VT100 model (<see cref="TerminalScreen"/>, with the autowrap and "pending wrap" of a real
/// terminal), and the interactive shell in a 30-column pseudo-terminal.
/// </summary>
[Collection(MetadataToolsCollection.Name)]
public sealed class MetadataShellTerminalTests(MetadataToolsNode node, ITestOutputHelper output)
{
    private const string Prompt = "/ >> ";

    private static ConsoleKeyInfo Key(ConsoleKey key, char c = '\0', bool control = false) => new(c, key, false, false, control);
    private static ConsoleKeyInfo Char(char c) => new(c, c is >= 'a' and <= 'z' ? ConsoleKey.A + (c - 'a') : 0, false, false, false);

    /// <summary>Feeds <paramref name="keys"/> to an editor of <paramref name="width"/> columns; after each key
    /// <paramref name="check"/> sees the screen. Returns the line read and the screen.</summary>
    private static (string? Line, TerminalScreen Screen) Edit(int width, IEnumerable<ConsoleKeyInfo> keys, Action<TerminalScreen>? check = null)
    {
        var screen = new TerminalScreen(width > 0 ? width : 1000);
        var writer = new ScreenWriter(screen);
        var session = new ShellSession(new ShellDirectory("/"));
        using var next = keys.GetEnumerator();
        bool first = true;
        var editor = new LineEditor(() =>
        {
            if (!first) check?.Invoke(screen);
            first = false;
            return next.MoveNext() ? next.Current : null;
        }, writer, session, () => width);
        string? line = editor.ReadLine(Prompt);
        return (line, screen);
    }

    [Theory]
    [InlineData(30)]
    [InlineData(12)]
    [InlineData(7)]
    [InlineData(0)]
    public void Typed_line_wraps_and_is_edited_across_rows(int width)
    {
        const string Command = "cat /features/metadata.version";
        var keys = Command.Select(Char).ToList();
        keys.AddRange(Enumerable.Repeat(Key(ConsoleKey.LeftArrow), 10)); // into "metadata", on the first row at 30 columns
        keys.Add(Key(ConsoleKey.Backspace, '\x7f'));                      // the 'a' of "data" goes
        keys.Add(Char('a'));                                              // and comes back
        keys.Add(Key(ConsoleKey.Home));
        keys.Add(Key(ConsoleKey.End));
        keys.AddRange(Enumerable.Repeat(Key(ConsoleKey.LeftArrow), 3));
        keys.Add(Key(ConsoleKey.Enter, '\r'));
        var (line, screen) = Edit(width, keys);
        Assert.Equal(Command, line);
        // The screen shows prompt + line laid out over the rows, and the cursor on the row after it.
        int w = width > 0 ? width : 1000;
        var full = Prompt + Command;
        var expected = Enumerable.Range(0, (full.Length + w - 1) / w).Select(r => full.Substring(r * w, Math.Min(w, full.Length - r * w)).TrimEnd()).ToList();
        Assert.Equal(expected, screen.Rows.Take(expected.Count).Select(r => r.TrimEnd()).ToList());
        Assert.Equal((expected.Count, 0), (screen.Row, screen.Column));
    }

    /// <summary>Random editing (typing, left/right, Home/End, Backspace, Delete, Ctrl-U/K/A/E) compared
    /// with a model after every key: the screen holds exactly prompt + text, and the cursor is where the
    /// text cursor is.</summary>
    [Theory]
    [InlineData(7, 1)]
    [InlineData(10, 2)]
    [InlineData(16, 3)]
    [InlineData(23, 4)]
    public void Every_key_leaves_the_screen_and_cursor_right(int width, int seed)
    {
        var random = new Random(seed);
        var keys = new List<ConsoleKeyInfo>();
        for (int i = 0; i < 400; i++)
        {
            int pick = random.Next(20);
            keys.Add(pick switch
            {
                < 9 => Char((char)('a' + random.Next(26))),
                9 or 10 => Key(ConsoleKey.LeftArrow),
                11 => Key(ConsoleKey.RightArrow),
                12 => Key(ConsoleKey.Home),
                13 => Key(ConsoleKey.End),
                14 or 15 => Key(ConsoleKey.Backspace, '\x7f'),
                16 => Key(ConsoleKey.Delete),
                17 => random.Next(4) == 0 ? Key(ConsoleKey.U, '\x15', control: true) : Key(ConsoleKey.K, '\x0b', control: true),
                18 => Key(ConsoleKey.A, '\x01', control: true),
                _ => Key(ConsoleKey.E, '\x05', control: true),
            });
        }
        var text = new StringBuilder();
        int cursor = 0, step = 0;
        var (line, screen) = Edit(width, keys.Append(Key(ConsoleKey.Enter, '\r')), s =>
        {
            // The key just handled: apply it to the model, then compare.
            var key = keys[step++];
            switch ((key.Modifiers & ConsoleModifiers.Control) != 0 ? key.Key : key.KeyChar >= ' ' && key.KeyChar != '\x7f' ? ConsoleKey.NoName : key.Key)
            {
                case ConsoleKey.LeftArrow: if (cursor > 0) cursor--; break;
                case ConsoleKey.RightArrow: if (cursor < text.Length) cursor++; break;
                case ConsoleKey.Home: cursor = 0; break;
                case ConsoleKey.End: cursor = text.Length; break;
                case ConsoleKey.Backspace: if (cursor > 0) text.Remove(--cursor, 1); break;
                case ConsoleKey.Delete: if (cursor < text.Length) text.Remove(cursor, 1); break;
                case ConsoleKey.U: text.Remove(0, cursor); cursor = 0; break;
                case ConsoleKey.K: text.Remove(cursor, text.Length - cursor); break;
                case ConsoleKey.A: cursor = 0; break;
                case ConsoleKey.E: cursor = text.Length; break;
                default: text.Insert(cursor++, key.KeyChar); break;
            }
            string full = Prompt + text;
            for (int r = 0; r < Math.Max(s.Rows.Count, full.Length / width + 1); r++)
            {
                string want = r * width < full.Length ? full.Substring(r * width, Math.Min(width, full.Length - r * width)) : "";
                Assert.True(want.TrimEnd() == s.RowText(r).TrimEnd(), $"width {width}, step {step} ({key.Key}): row {r} is '{s.RowText(r)}', expected '{want}'");
            }
            int at = Prompt.Length + cursor;
            Assert.True((at / width, at % width) == (s.Row, s.Column),
                $"width {width}, step {step} ({key.Key}): cursor at row {s.Row} column {s.Column}, expected {at / width}, {at % width} (text '{text}', cursor {cursor})");
        });
        Assert.Equal(keys.Count, step);
        Assert.Equal(text.ToString(), line);
        // Enter leaves the cursor at the start of the row after the text.
        Assert.Equal(((Prompt.Length + text.Length) / width + ((Prompt.Length + text.Length) % width == 0 && text.Length + Prompt.Length > 0 ? 0 : 1), 0),
            (screen.Row, screen.Column));
    }

    [Fact]
    public void Ctrl_C_in_the_middle_of_a_wrapped_line_moves_below_it()
    {
        var keys = "ls /brokers/1/registration".Select(Char).Concat(Enumerable.Repeat(Key(ConsoleKey.Home), 1))
            .Append(Key(ConsoleKey.C, '\x03', control: true)).Append(Char('p')).Append(Char('w')).Append(Char('d')).Append(Key(ConsoleKey.Enter, '\r'));
        var (line, screen) = Edit(12, keys);
        Assert.Equal("pwd", line);
        Assert.Equal(["/ >> ls /bro", "kers/1/regis", "tration^C", "/ >> pwd"], screen.Rows.Take(4).Select(r => r.TrimEnd()));
    }

    /// <summary>The interactive shell in a pseudo-terminal of 30 columns (TIOCSWINSZ before the shell
    /// starts): a command longer than a row, edited at its start (Home, Delete) and in the middle (End,
    /// left across the row boundary, Backspace), runs as typed; the screen, replayed through the VT100
    /// model, shows the wrapped line and the answer under it (an editor that ignored the width would
    /// redraw the whole prompt on the second row).</summary>
    [Fact]
    public async Task Narrow_pseudo_terminal_wraps_the_line()
    {
        const int Columns = 30;
        var (exitCode, raw, errors) = await PtyShell.RunAsync(node.ScratchDir, node.SnapshotPath, """
            # Typed whole; Home (up a row), Delete the 'c' and type it again; End (down a row); 10 left into
            # 'metadata' (back on the first row), one character erased and typed again, Enter.
            send(b'cat /features/metadata.version', b'version')
            send(b'\x1b[H', b'\r')
            send(b'\x1b[3~', b'\r')
            send(b'c', b'\r')
            send(b'\x1b[F', b'\x1b[')
            send(b'\x1b[D' * 10, b'\x1b[')
            send(b'\x7f', b'\x1b[')
            send(b'a', b'\x1b[')
            send(b'\r', b'/ >> ')
            send(b'history\r', b'/ >> ')
            """, Columns);
        output.WriteLine(raw.Replace("\x1b", "<ESC>", StringComparison.Ordinal));
        output.WriteLine(errors);
        Assert.Equal(0, exitCode);
        Assert.Contains("\nEXIT 0\n", raw, StringComparison.Ordinal);

        var screen = new TerminalScreen(Columns);
        screen.Write(raw[..raw.LastIndexOf("\nEXIT", StringComparison.Ordinal)]);
        var rows = screen.Rows.Select(r => r.TrimEnd()).ToList();
        output.WriteLine(string.Join("\n", rows.Select(r => "|" + r)));
        string version = MetadataToolsNode.Cli("metadata-shell", "--snapshot", node.SnapshotPath, "--", "cat /features/metadata.version").Out.Trim();
        Assert.Matches(@"^\d+$", version);
        // The line as edited, wrapped at 30 columns, and the answer of the command under it.
        int at = rows.IndexOf("/ >> cat /features/metadata.ve");
        Assert.True(at >= 0, "the wrapped first row is not on the screen");
        Assert.Equal("rsion", rows[at + 1]);
        Assert.Equal(version, rows[at + 2]);
        // The history holds the command as it ran.
        Assert.Contains("    1  cat /features/metadata.version", string.Concat(rows.Skip(at + 3)), StringComparison.Ordinal);
        Assert.DoesNotContain(rows, r => r.Contains("no such", StringComparison.Ordinal) || r.Contains("unknown command", StringComparison.Ordinal));
    }
}

/// <summary>A TextWriter that draws on a <see cref="TerminalScreen"/>.</summary>
internal sealed class ScreenWriter(TerminalScreen screen) : TextWriter
{
    public override Encoding Encoding => Encoding.UTF8;
    public override void Write(char value) => screen.Write(value.ToString());
    public override void Write(string? value) => screen.Write(value ?? "");
}

/// <summary>
/// A VT100 screen as the shell's terminals behave, for what the line editor draws: printable
/// characters with autowrap and the pending wrap at the right margin (a full row leaves the cursor on
/// its last column until the next character), CR, LF (as CR LF: the pty's ONLCR), <c>ESC[nA/B/C/D</c>,
/// <c>ESC[K</c>, <c>ESC[J</c>, <c>ESC[H</c>; other escape sequences are ignored. Rows grow without
/// scrolling.
/// </summary>
internal sealed class TerminalScreen(int width)
{
    private readonly List<char[]> _rows = [];
    private bool _pendingWrap;
    private string _escape = "";

    public int Row { get; private set; }
    public int Column { get; private set; }
    public IReadOnlyList<string> Rows => [.. _rows.Select(r => new string(r))];
    public string RowText(int row) => row < _rows.Count ? new string(_rows[row]) : "";

    private char[] At(int row)
    {
        while (_rows.Count <= row) _rows.Add(Enumerable.Repeat(' ', width).ToArray());
        return _rows[row];
    }

    public void Write(string text)
    {
        foreach (char c in text)
        {
            if (_escape.Length > 0)
            {
                _escape += c;
                if (_escape.Length == 2 && c != '[') _escape = ""; // ESC =, ESC > and the like
                else if (_escape.Length > 2 && c is >= '@' and <= '~') Escape(_escape);
                continue;
            }
            switch (c)
            {
                case '\x1b': _escape = "\x1b"; break;
                case '\r': Column = 0; _pendingWrap = false; break;
                case '\n': Column = 0; Row++; _pendingWrap = false; break;
                case '\a' or '\0': break;
                default:
                    if (c < ' ') break;
                    if (_pendingWrap)
                    {
                        Row++;
                        Column = 0;
                        _pendingWrap = false;
                    }
                    At(Row)[Column] = c;
                    if (Column == width - 1) _pendingWrap = true;
                    else Column++;
                    break;
            }
        }
    }

    private void Escape(string sequence)
    {
        _escape = "";
        char final = sequence[^1];
        string parameters = sequence[2..^1];
        if (parameters.StartsWith('?')) return;
        int n = int.TryParse(parameters.Split(';')[0], out int value) && value > 0 ? value : 1;
        _pendingWrap = false;
        switch (final)
        {
            case 'A': Row = Math.Max(0, Row - n); break;
            case 'B': Row += n; break;
            case 'C': Column = Math.Min(width - 1, Column + n); break;
            case 'D': Column = Math.Max(0, Column - n); break;
            case 'K':
                if (parameters is "" or "0") Array.Fill(At(Row), ' ', Column, width - Column);
                break;
            case 'J':
                if (parameters is "" or "0")
                {
                    Array.Fill(At(Row), ' ', Column, width - Column);
                    for (int r = Row + 1; r < _rows.Count; r++) Array.Fill(_rows[r], ' ');
                }
                break;
            case 'H':
                var parts = parameters.Split(';');
                Row = parts.Length > 0 && int.TryParse(parts[0], out int r0) && r0 > 0 ? r0 - 1 : 0;
                Column = parts.Length > 1 && int.TryParse(parts[1], out int c0) && c0 > 0 ? c0 - 1 : 0;
                break;
        }
    }
}
