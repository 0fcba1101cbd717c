using System.Globalization;
using System.Text.Json;
using AgentBus.Client;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace AgentBus.Cli;

/// <summary>How read commands print: JSON for scripts (--json, snake_case as the api writes it), tables for people.</summary>
public static class Output
{
    private static readonly JsonSerializerOptions Indented = new(AgentBusApi.Json) { WriteIndented = true };

    public static void Json<T>(CliConsole console, T value) => console.Out.WriteLine(JsonSerializer.Serialize(value, Indented));

    /// <summary>One JSON document on one line (a stream of them is JSON Lines).</summary>
    public static void JsonLine<T>(CliConsole console, T value) => console.Out.WriteLine(JsonSerializer.Serialize(value, AgentBusApi.Json));

    public static void Table(CliConsole console, string[] columns, IEnumerable<string?[]> rows)
    {
        var table = new Table().Border(TableBorder.Simple);
        foreach (var column in columns)
        {
            table.AddColumn(new TableColumn(column).NoWrap());
        }
        foreach (var row in rows)
        {
            // Text, not markup: an api's value with [brackets] prints as it is.
            table.AddRow(row.Select(cell => (IRenderable)new Text(cell ?? "")).ToArray());
        }
        console.Ansi.Write(table);
    }

    public static string Time(DateTime? utc) => utc?.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "";

    public static string Usd(decimal? usd) => usd is { } v ? "$" + v.ToString("0.0000", CultureInfo.InvariantCulture) : "";

    public static string Number(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>A job's stages as a table: what `status` prints and `watch` keeps current.</summary>
    public static Table Stages(Job job)
    {
        var table = new Table().Border(TableBorder.Simple).Title(new TableTitle(Markup.Escape($"job {job.JobId}: {job.Status}")));
        foreach (var column in new[] { "STAGE", "AGENT", "STATUS", "ATTEMPTS", "STARTED", "COMPLETED" })
        {
            table.AddColumn(new TableColumn(column).NoWrap());
        }
        foreach (var s in job.Stages)
        {
            table.AddRow(new Text(s.Stage), new Text(s.AgentType), new Text(s.Status), new Text(s.Attempts.ToString(CultureInfo.InvariantCulture)),
                new Text(Time(s.StartedAt)), new Text(Time(s.CompletedAt)));
        }
        return table;
    }
}
