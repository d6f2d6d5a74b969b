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
/// <para>Drawing: after every change the whole prompt + line is redrawn in place. The prompt and the
/// line may wrap over several terminal rows: with the terminal <c>width</c> (columns; 0 or less:
/// unknown, taken as one row that never wraps) the text at index <c>i</c> of prompt + line sits on
/// row <c>i / width</c>, column <c>i % width</c>, relative to the row the prompt starts on. A redraw
/// moves up to that first row (<c>ESC[nA</c>), returns to its start (<c>CR</c>), erases to the end of
/// the screen (<c>ESC[J</c>, before writing: after a text ending at the right margin it would erase the
/// last character), writes prompt + line, then moves from the end of the text to the
/// cursor's row and column (<c>ESC[nA</c>, <c>ESC[nC</c> / <c>ESC[nD</c>).</para>
/// <para>Invariants: after every draw the terminal cursor is at the editor's cursor, and
/// <see cref="_cursorRow"/> is its row relative to the prompt's first row. When the text ends exactly
/// at the right margin, <c>CR LF</c> is written after it, so the end of the text is always at column
/// <c>length % width</c> of row <c>length / width</c> (terminals keep the cursor on the last column
/// after filling a row — the "pending wrap" — and would otherwise be one row above that). Every
/// character is taken as one column wide (the shell's paths and commands are ASCII). A width that
/// changes between draws (the terminal resized) is read again at the next draw. Before any output
/// that is not the line (Enter, Ctrl-C, a completion list) the cursor goes to the end of the text, so
/// nothing overwrites the rows below the cursor.</para>
/// </remarks>
/// <param name="readKey">The key source (null: the end of input).</param>
/// <param name="output">The terminal.</param>
/// <param name="session">The shell: its history and completion.</param>
/// <param name="width">The terminal width in columns, read at every draw; null or a result of 0 or less: no wrapping.</param>
public sealed class LineEditor(Func<ConsoleKeyInfo?> readKey, TextWriter output, ShellSession session, Func<int>? width = null)
{
    /// <summary>The row of the terminal cursor after the last draw, relative to the row the prompt starts on.</summary>
    private int _cursorRow;

    /// <summary>The width the last draw used (0: no wrapping).</summary>
    private int _drawnWidth;

    /// <summary>Reads one line; null at the end of input (or Ctrl-D on an empty line).</summary>
    public string? ReadLine(string prompt)
    {
        var buffer = new StringBuilder();
        int cursor = 0;
        var history = session.History;
        int historyIndex = history.Count;
        string draft = "";
        _cursorRow = 0;
        Redraw(prompt, buffer, cursor);
        while (true)
        {
            if (readKey() is not { } key) return buffer.Length > 0 ? Finish(prompt, buffer) : null;
            bool control = (key.Modifiers & ConsoleModifiers.Control) != 0;
            switch (key.Key)
            {
                case ConsoleKey.Enter:
                    return Finish(prompt, buffer);
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
                                Redraw(prompt, buffer, buffer.Length);
                                output.Write("^C" + Environment.NewLine);
                                _cursorRow = 0;
                                buffer.Clear();
                                cursor = 0;
                                historyIndex = history.Count;
                                break;
                            case 'D':
                                if (buffer.Length == 0)
                                {
                                    NewLineAfter(prompt, buffer);
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

    private string Finish(string prompt, StringBuilder buffer)
    {
        NewLineAfter(prompt, buffer);
        return buffer.ToString();
    }

    /// <summary>Moves to the end of the text, then to the start of the next row (what the command prints goes there).</summary>
    private void NewLineAfter(string prompt, StringBuilder buffer)
    {
        Redraw(prompt, buffer, buffer.Length);
        int length = prompt.Length + buffer.Length;
        // A text ending at the right margin already left the cursor at the start of the next row.
        if (!(_drawnWidth > 0 && length > 0 && length % _drawnWidth == 0)) output.Write(Environment.NewLine);
        output.Flush();
        _cursorRow = 0;
    }

    private static void Replace(StringBuilder buffer, string text, ref int cursor)
    {
        buffer.Clear().Append(text);
        cursor = buffer.Length;
    }

    /// <summary>The terminal width now (0: unknown or no wrapping).</summary>
    private int Width()
    {
        int columns = width?.Invoke() ?? 0;
        return columns > 0 ? columns : 0;
    }

    /// <summary>Draws prompt + line from the prompt's first row and leaves the terminal cursor at <paramref name="cursor"/> (see the remarks).</summary>
    private void Redraw(string prompt, StringBuilder buffer, int cursor)
    {
        int columns = Width();
        var draw = new StringBuilder();
        if (_cursorRow > 0) draw.Append("\x1b[").Append(_cursorRow).Append('A');
        // Erased before writing, not after: a text ending at the right margin leaves the cursor on its
        // last character (pending wrap), which an erase after it would wipe out.
        draw.Append("\r\x1b[J").Append(prompt).Append(buffer);
        int end = prompt.Length + buffer.Length, at = prompt.Length + cursor;
        if (columns > 0 && end > 0 && end % columns == 0) draw.Append("\r\n"); // out of the pending wrap, onto the next row
        var (endRow, endColumn) = Position(end, columns);
        var (row, column) = Position(at, columns);
        if (endRow > row) draw.Append("\x1b[").Append(endRow - row).Append('A');
        if (column < endColumn) draw.Append("\x1b[").Append(endColumn - column).Append('D');
        else if (column > endColumn) draw.Append("\x1b[").Append(column - endColumn).Append('C');
        output.Write(draw.ToString());
        output.Flush();
        _cursorRow = row;
        _drawnWidth = columns;
    }

    /// <summary>Row and column of text index <paramref name="index"/> (prompt included) at <paramref name="columns"/> (0: one endless row).</summary>
    private static (int Row, int Column) Position(int index, int columns) =>
        columns > 0 ? (index / columns, index % columns) : (0, index);

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
                // (The next draw starts on a fresh row below the list.)
                NewLineAfter(prompt, buffer);
                output.Write(string.Join("  ", candidates.Select(c => Tail(c))) + Environment.NewLine);
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
