using DiffPlex.DiffBuilder;
using DiffPlex.DiffBuilder.Model;

namespace AgentBus.Web.Rendering;

/// <summary>A line diff of two texts (two PRD versions): what was removed, added and kept, in order.</summary>
public static class TextDiff
{
    public enum Change { Kept, Added, Removed }

    public sealed record Line(Change Change, string Text);

    public static IReadOnlyList<Line> Lines(string before, string after) =>
        InlineDiffBuilder.Diff(before, after, ignoreWhiteSpace: false).Lines
            .Where(l => l.Type is not ChangeType.Imaginary)
            .Select(l => new Line(l.Type switch
            {
                ChangeType.Inserted => Change.Added,
                ChangeType.Deleted => Change.Removed,
                _ => Change.Kept,
            }, l.Text ?? ""))
            .ToList();
}
