using System.Text;

namespace Fjord.Cli.Shell;

/// <summary>
/// The interactive shell's line editor, written over raw key input (<see cref="Console.ReadKey(bool)"/>
/// in a terminal; any key source in tests): left/right, Home/End (and Ctrl-A/Ctrl-E), Backspace,
/// Delete, Ctrl-U (clear to start), Ctrl-K (clear to end), Ctrl-L (redraw), up/down through the
/// history (the line being typed is kept), Tab completion of commands and paths (one candidate is
/// inserted; several extend to their common prefix, or are listed when they share no more), Enter.
/// Ctrl-D on an empty line and the end of input end the session; Ctrl-C drops the line.
/// </summary>
/// <remarks>
/// Drawing: after every change the line is redrawn in place — carriage return, prompt, text, erase to
/// the end of the line (<c>ESC[K</c>), then the cursor moved back (<c>ESC[nD</c>) to its place. So the
/// editor needs nothing of the terminal but those two VT100 sequences.
/// </remarks>
public sealed class LineEditor(Func<ConsoleKeyInfo?> readKey, TextWriter output, ShellSession session)
{
    /// <summary>Reads one line; null at the end of input (or Ctrl-D on an empty line).</summary>
    public string? ReadLine(string prompt)
    {
        var buffer = new StringBuilder();
        int cursor = 0;
        var history = session.History;
        int historyIndex = history.Count;
        string draft = "";
        output.Write(prompt);
        output.Flush();
        while (true)
        {
            if (readKey() is not { } key) return buffer.Length > 0 ? Finish(buffer) : null;
            bool control = (key.Modifiers & ConsoleModifiers.Control) != 0;
            switch (key.Key)
            {
                case ConsoleKey.Enter:
                    return Finish(buffer);
                case ConsoleKey.LeftArrow:
                    if (cursor > 0) cursor--;
                    break;
                case ConsoleKey.RightArrow:
                    if (cursor < buffer.Length) cursor++;
                    break;
                case ConsoleKey.Home:
                    cursor = 0;
                    break;
                case ConsoleKey.End:
                    cursor = buffer.Length;
                    break;
                case ConsoleKey.Backspace:
                    if (cursor > 0) buffer.Remove(--cursor, 1);
                    break;
                case ConsoleKey.Delete:
                    if (cursor < buffer.Length) buffer.Remove(cursor, 1);
                    break;
                case ConsoleKey.UpArrow:
                    if (historyIndex > 0)
                    {
                        if (historyIndex == history.Count) draft = buffer.ToString();
                        historyIndex--;
                        Replace(buffer, history[historyIndex], ref cursor);
                    }
                    break;
                case ConsoleKey.DownArrow:
                    if (historyIndex < history.Count)
                    {
                        historyIndex++;
                        Replace(buffer, historyIndex == history.Count ? draft : history[historyIndex], ref cursor);
                    }
                    break;
                case ConsoleKey.Tab:
                    Complete(buffer, ref cursor, prompt);
                    break;
                default:
                    if (control || key.KeyChar is >= '\x01' and <= '\x1a')
                    {
                        char letter = key.KeyChar is >= '\x01' and <= '\x1a' ? (char)('A' + key.KeyChar - 1) : key.Key.ToString()[0];
                        switch (letter)
                        {
                            case 'A': cursor = 0; break;
                            case 'E': cursor = buffer.Length; break;
                            case 'U': buffer.Remove(0, cursor); cursor = 0; break;
                            case 'K': buffer.Remove(cursor, buffer.Length - cursor); break;
                            case 'L': break;
                            case 'C':
                                output.Write("^C" + Environment.NewLine);
                                buffer.Clear();
                                cursor = 0;
                                historyIndex = history.Count;
                                break;
                            case 'D':
                                if (buffer.Length == 0)
                                {
                                    output.Write(Environment.NewLine);
                                    return null;
                                }
                                if (cursor < buffer.Length) buffer.Remove(cursor, 1);
                                break;
                        }
                    }
                    else if (key.KeyChar >= ' ' && key.KeyChar != '\x7f')
                    {
                        buffer.Insert(cursor++, key.KeyChar);
                    }
                    break;
            }
            Redraw(prompt, buffer, cursor);
        }
    }

    private string Finish(StringBuilder buffer)
    {
        output.Write(Environment.NewLine);
        output.Flush();
        return buffer.ToString();
    }

    private static void Replace(StringBuilder buffer, string text, ref int cursor)
    {
        buffer.Clear().Append(text);
        cursor = buffer.Length;
    }

    private void Redraw(string prompt, StringBuilder buffer, int cursor)
    {
        var line = new StringBuilder();
        line.Append('\r').Append(prompt).Append(buffer).Append("\x1b[K");
        int back = buffer.Length - cursor;
        if (back > 0) line.Append("\x1b[").Append(back).Append('D');
        output.Write(line.ToString());
        output.Flush();
    }

    private void Complete(StringBuilder buffer, ref int cursor, string prompt)
    {
        string before = buffer.ToString(0, cursor);
        var (wordStart, candidates) = session.Complete(before);
        if (candidates.Count == 0) return;
        string word = before[wordStart..];
        string insert;
        if (candidates.Count == 1)
        {
            insert = candidates[0];
            if (!insert.EndsWith('/')) insert += " ";
        }
        else
        {
            insert = CommonPrefix(candidates);
            if (insert.Length <= word.Length)
            {
                // Nothing more to add: list the choices under the line, then draw the line again.
                output.Write(Environment.NewLine + string.Join("  ", candidates.Select(c => Tail(c))) + Environment.NewLine);
                output.Write(prompt);
                return;
            }
        }
        buffer.Remove(wordStart, cursor - wordStart).Insert(wordStart, insert);
        cursor = wordStart + insert.Length;
    }

    /// <summary>The last path component of a candidate (what ls would show).</summary>
    private static string Tail(string candidate)
    {
        string trimmed = candidate.TrimEnd('/');
        int slash = trimmed.LastIndexOf('/');
        return slash >= 0 ? candidate[(slash + 1)..] : candidate;
    }

    private static string CommonPrefix(List<string> words)
    {
        string prefix = words[0];
        foreach (var w in words.Skip(1))
        {
            int n = 0;
            while (n < prefix.Length && n < w.Length && prefix[n] == w[n]) n++;
            prefix = prefix[..n];
        }
        return prefix;
    }
}
