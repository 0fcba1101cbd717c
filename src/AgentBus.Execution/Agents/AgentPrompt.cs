using System.Text;
using Anthropic.Models.Messages;
using Microsoft.Extensions.AI;

namespace AgentBus.Agents;

public sealed record PromptArtifact(string Type, int Version, string Content);

/// <summary>
/// One stage's prompt in parts, so that it can be cut to fit a context window in a stated order
/// and sent with its shared prefix marked for caching.
/// </summary>
public sealed record AgentPrompt(
    string System, string ProjectName, string NumberedRequirements, PromptArtifact? Prd, IReadOnlyList<PromptArtifact> Artifacts,
    IReadOnlyList<string> SimilarPrds, PromptArtifact? PreviousVersion, string? Notes, string Task)
{
    /// <summary>What no cut goes below: an artifact keeps at least this many tokens (and its marker).</summary>
    private const int MinimumKept = 200;

    /// <summary>The part every stage of the job shares: project, requirements and the PRD.</summary>
    public string SharedPrefix
    {
        get
        {
            var text = new StringBuilder();
            text.Append("<project name=\"").Append(ProjectName.Replace("\"", "&quot;", StringComparison.Ordinal)).Append("\">\n");
            text.Append("<requirements>\n").Append(NumberedRequirements).Append("\n</requirements>\n");
            Append(text, Prd);
            return text.ToString();
        }
    }

    /// <summary>The stage's own inputs and instructions, after the shared prefix.</summary>
    public string StagePart
    {
        get
        {
            var text = new StringBuilder();
            foreach (var artifact in Artifacts)
            {
                Append(text, artifact);
            }
            foreach (var prd in SimilarPrds)
            {
                text.Append("<similar_prd>\n").Append(prd).Append("\n</similar_prd>\n");
            }
            if (PreviousVersion is { } previous)
            {
                text.Append($"<previous_version version=\"{previous.Version}\">\n").Append(previous.Content).Append("\n</previous_version>\n");
            }
            if (Notes is { } notes)
            {
                text.Append("<reviewer_notes>\n").Append(notes).Append("\n</reviewer_notes>\n");
            }
            return text.Append("</project>\n").Append(Task).ToString();
        }
    }

    private static void Append(StringBuilder text, PromptArtifact? artifact)
    {
        if (artifact is not null)
        {
            text.Append($"<artifact type=\"{artifact.Type}\" version=\"{artifact.Version}\">\n").Append(artifact.Content).Append("\n</artifact>\n");
        }
    }

    /// <summary>
    /// The messages: the system text, then one user message whose first block (the shared prefix)
    /// ends with a cache breakpoint. Providers without breakpoints ignore it.
    /// </summary>
    public List<ChatMessage> ToMessages() =>
    [
        new(ChatRole.System, System),
        new(ChatRole.User, [new TextContent(SharedPrefix).WithCacheControl(new CacheControlEphemeral()), new TextContent(StagePart)]),
    ];

    /// <summary>
    /// The prompt cut, if need be, to at most <paramref name="budget"/> tokens as <paramref name="count"/>
    /// counts them, in this order: similar earlier PRDs left out; the longest of the stage's other
    /// inputs (artifacts, then the previous version) cut to its head with a marker, repeatedly;
    /// the PRD last. The requirements and the instructions are never cut. Returns what was cut,
    /// in words; throws when even that does not fit.
    /// </summary>
    public (AgentPrompt Prompt, IReadOnlyList<string> Cuts) Fit(int budget, Func<string, int> count, string model)
    {
        var prompt = this;
        var cuts = new List<string>();
        int Tokens(AgentPrompt p) => count(p.System) + count(p.SharedPrefix) + count(p.StagePart);
        var tokens = Tokens(prompt);
        if (tokens <= budget)
        {
            return (prompt, cuts);
        }
        if (prompt.SimilarPrds.Count > 0)
        {
            cuts.Add($"{prompt.SimilarPrds.Count} similar earlier PRD(s) left out");
            prompt = prompt with { SimilarPrds = [] };
            tokens = Tokens(prompt);
        }
        while (tokens > budget)
        {
            // The largest input still above the floor, the PRD only when nothing else is left.
            var candidates = prompt.Artifacts.Select(a => (Artifact: a, Role: "artifact"))
                .Concat(prompt.PreviousVersion is { } p ? [(p, "previous")] : [])
                .Select(c => (c.Artifact, c.Role, Tokens: count(c.Artifact.Content)))
                .Where(c => c.Tokens > MinimumKept * 2).OrderByDescending(c => c.Tokens).ToList();
            if (candidates.Count == 0 && prompt.Prd is { } prd && count(prd.Content) > MinimumKept * 2)
            {
                candidates.Add((prd, "prd", count(prd.Content)));
            }
            if (candidates.Count == 0)
            {
                throw new ContextWindowExceededException(
                    $"the prompt needs {tokens} tokens with every input cut as far as it may be, and {model}'s context window leaves {budget} for it");
            }
            var (artifact, role, size) = candidates[0];
            var keep = Math.Max(MinimumKept, size - (tokens - budget) - 64);
            var cut = Cut(artifact, keep, size, count, model);
            cuts.Add($"{artifact.Type} v{artifact.Version}{(role == "previous" ? " (previous version)" : "")} cut from {size} to about {keep} tokens");
            prompt = role switch
            {
                "artifact" => prompt with { Artifacts = [.. prompt.Artifacts.Select(a => ReferenceEquals(a, artifact) ? cut : a)] },
                "previous" => prompt with { PreviousVersion = cut },
                _ => prompt with { Prd = cut },
            };
            tokens = Tokens(prompt);
        }
        return (prompt, cuts);
    }

    /// <summary>The head of the artifact, about <paramref name="keep"/> tokens of it, and a marker saying what is missing.</summary>
    private static PromptArtifact Cut(PromptArtifact artifact, int keep, int size, Func<string, int> count, string model)
    {
        // Tokens per character vary along a text: shrink the estimate until the head is within the count.
        var chars = (int)((long)artifact.Content.Length * keep / size);
        for (var tokens = count(artifact.Content[..chars]); tokens > keep && chars > 0; tokens = count(artifact.Content[..chars]))
        {
            chars = (int)((long)chars * keep / tokens) - 1;
        }
        var head = artifact.Content[..Math.Max(chars, 0)];
        var lineEnd = head.LastIndexOf('\n');
        head = lineEnd > chars / 2 ? head[..lineEnd] : head;
        return artifact with
        {
            Content = $"{head}\n[… the rest of this {artifact.Type} (about {size - keep} tokens) was cut so the prompt fits {model}'s context window …]",
        };
    }
}
