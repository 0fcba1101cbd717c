using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace AgentBus.Testing;

/// <summary>Reads tests/monitoring/queries.txt and takes PromQL expressions apart at the top level.</summary>
public static partial class QueryCatalog
{
    public static string File => Path.Combine(Repository.Root, "tests", "monitoring", "queries.txt");

    public static IReadOnlyList<CatalogQuery> Load()
    {
        var queries = new List<CatalogQuery>();
        string? source = null;
        var n = 0;
        foreach (var raw in System.IO.File.ReadLines(File))
        {
            n++;
            var line = raw.Trim();
            if (line.StartsWith("# source:", StringComparison.Ordinal))
            {
                source = line["# source:".Length..].Trim();
            }
            else if (line.Length > 0 && !line.StartsWith('#'))
            {
                queries.Add(new CatalogQuery(source ?? throw new FormatException($"queries.txt:{n}: query without a '# source:' line"), line, n));
                source = null;
            }
        }
        return queries;
    }

    /// <summary>
    /// The operands of an expression's top-level comparison and set operators (==, !=, &gt;, &lt;,
    /// &gt;=, &lt;=, and, or, unless), with their modifiers (bool, on, ignoring, group_left,
    /// group_right) dropped. Nested expressions (inside parentheses, braces, brackets or strings)
    /// are left whole. An expression without such operators is its own single operand.
    /// </summary>
    public static IReadOnlyList<string> Operands(string expr)
    {
        var operands = new List<string>();
        var current = new StringBuilder();
        var depth = 0;
        var i = 0;
        while (i < expr.Length)
        {
            var c = expr[i];
            if (c is '"' or '\'' or '`')
            {
                var end = i + 1;
                while (end < expr.Length && expr[end] != c)
                {
                    end += expr[end] == '\\' && c != '`' ? 2 : 1;
                }
                current.Append(expr, i, Math.Min(end + 1, expr.Length) - i);
                i = end + 1;
                continue;
            }
            if (c is '(' or '[' or '{')
            {
                depth++;
            }
            else if (c is ')' or ']' or '}')
            {
                depth--;
            }
            var length = depth == 0 ? OperatorLength(expr, i) : 0;
            if (length == 0)
            {
                current.Append(c);
                i++;
                continue;
            }
            operands.Add(current.ToString().Trim());
            current.Clear();
            i = SkipModifiers(expr, i + length);
        }
        operands.Add(current.ToString().Trim());
        return operands;
    }

    /// <summary>True for an operand that is only a number: (14.4 * 0.001), 0, 1000.</summary>
    public static bool IsNumber(string operand) => NumberOnly().IsMatch(operand);

    /// <summary>absent(x) is empty exactly while x has series: the series to look for is x.</summary>
    public static string Unwrap(string operand)
    {
        if (!operand.StartsWith("absent(", StringComparison.Ordinal))
        {
            return operand;
        }
        var depth = 0;
        for (var i = "absent".Length; i < operand.Length; i++)
        {
            depth += operand[i] switch { '(' => 1, ')' => -1, _ => 0 };
            if (depth == 0)
            {
                // The whole operand only when absent's closing parenthesis is its last character.
                return i == operand.Length - 1 ? operand["absent(".Length..^1].Trim() : operand;
            }
        }
        return operand;
    }

    /// <summary>The longest `offset` of an expression (an operand that looks that far back).</summary>
    public static TimeSpan LongestOffset(string expr) =>
        OffsetPattern().Matches(expr).Select(m => Duration(m.Groups[1].Value)).DefaultIfEmpty(TimeSpan.Zero).Max();

    private static TimeSpan Duration(string text)
    {
        var value = double.Parse(text[..^1], CultureInfo.InvariantCulture);
        return text[^1] switch
        {
            's' => TimeSpan.FromSeconds(value),
            'm' => TimeSpan.FromMinutes(value),
            'h' => TimeSpan.FromHours(value),
            'd' => TimeSpan.FromDays(value),
            'w' => TimeSpan.FromDays(7 * value),
            _ => throw new FormatException($"duration {text}"),
        };
    }

    private static int OperatorLength(string expr, int i)
    {
        var two = i + 1 < expr.Length ? expr.Substring(i, 2) : "";
        if (two is "==" or "!=" or ">=" or "<=")
        {
            return 2;
        }
        if (expr[i] is '>' or '<')
        {
            return 1;
        }
        foreach (var keyword in new[] { "and", "or", "unless" })
        {
            if (IsWordAt(expr, i, keyword))
            {
                return keyword.Length;
            }
        }
        return 0;
    }

    private static int SkipModifiers(string expr, int i)
    {
        while (true)
        {
            while (i < expr.Length && char.IsWhiteSpace(expr[i]))
            {
                i++;
            }
            var keyword = new[] { "bool", "on", "ignoring", "group_left", "group_right" }.FirstOrDefault(k => IsWordAt(expr, i, k));
            if (keyword is null)
            {
                return i;
            }
            i += keyword.Length;
            while (i < expr.Length && char.IsWhiteSpace(expr[i]))
            {
                i++;
            }
            if (keyword != "bool" && i < expr.Length && expr[i] == '(')
            {
                i = expr.IndexOf(')', i) + 1;
            }
        }
    }

    private static bool IsWordAt(string expr, int i, string word) =>
        string.CompareOrdinal(expr, i, word, 0, word.Length) == 0
        && (i == 0 || !IsIdentifierChar(expr[i - 1]))
        && (i + word.Length >= expr.Length || !IsIdentifierChar(expr[i + word.Length]));

    private static bool IsIdentifierChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or ':';

    [GeneratedRegex(@"^[\s\d.()*/+-]+$")]
    private static partial Regex NumberOnly();

    [GeneratedRegex(@"\boffset\s+(\d+(?:\.\d+)?[smhdw])\b")]
    private static partial Regex OffsetPattern();
}
