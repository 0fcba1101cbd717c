using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AgentBus.Jobs;
using AgentBus.Requirements;

namespace AgentBus.Agents;

/// <summary>delivery_agent: assembles the package from every deliverable, without a model.</summary>
public static class DeliveryPackager
{
    public static string Assemble(StageWork work)
    {
        var artifacts = work.Stage.Inputs
            .Where(work.Inputs.ContainsKey)
            .Select(type => work.Inputs[type])
            .Select(a => new
            {
                type = a.Type,
                version = a.Version,
                content_type = a.ContentType,
                size_bytes = Encoding.UTF8.GetByteCount(a.Content),
                sha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(a.Content))),
                title = a.Content.Split('\n').FirstOrDefault(l => l.StartsWith("# ", StringComparison.Ordinal))?[2..].Trim() ?? a.Type,
            })
            .ToList();
        var missing = work.Stage.Inputs.Where(t => !work.Inputs.ContainsKey(t)).ToList();
        // The job's result says which requirements its deliverables leave uncovered, computed as the review's table is.
        var coverage = work.Inputs.TryGetValue(Pipeline.Prd, out var prd)
            ? Traceability.Coverage(prd.Content, work.Inputs.ToDictionary(i => i.Key, i => i.Value.Content))
            : null;
        var package = new
        {
            project = new { project_id = work.Project.ProjectId, name = work.Project.Name },
            job_id = work.Job.JobId,
            assembled_at = DateTimeOffset.UtcNow,
            complete = missing.Count == 0,
            missing,
            requirements = coverage is null ? null : new
            {
                functional = coverage.Rows.Select(r => r.Id),
                uncovered = coverage.Gaps.Select(g => new { id = g.Id, missing_from = g.Missing }),
            },
            artifacts,
            readme = $"# {work.Project.Name}: delivery package\n\n" + string.Concat(artifacts.Select(a => $"- {a.type} v{a.version}: {a.title}\n")),
        };
        return JsonSerializer.Serialize(package, new JsonSerializerOptions { WriteIndented = true });
    }
}
