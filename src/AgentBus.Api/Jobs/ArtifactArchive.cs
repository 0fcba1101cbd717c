using System.IO.Compression;
using System.Text;
using AgentBus.Jobs;

namespace AgentBus.Api.Jobs;

/// <summary>A job's deliverables as one zip: a file per artifact, numbered in pipeline order.</summary>
public static class ArtifactArchive
{
    public static byte[] Zip(IEnumerable<ArtifactRow> artifacts)
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var artifact in artifacts.OrderBy(a => Pipeline.Order[a.Type]))
            {
                var entry = zip.CreateEntry(FileName(artifact), CompressionLevel.Optimal);
                entry.LastWriteTime = new DateTimeOffset(artifact.CreatedAt, TimeSpan.Zero);
                using var writer = new StreamWriter(entry.Open(), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
                writer.Write(artifact.Content);
            }
        }
        return buffer.ToArray();
    }

    /// <summary>01-prd.md, 02-plan.json, ...: the stage's place in the pipeline, its name, and its format's extension.</summary>
    public static string FileName(ArtifactRow artifact) =>
        $"{Pipeline.Order[artifact.Type] + 1:00}-{artifact.Type}.{(artifact.ContentType == "application/json" ? "json" : "md")}";
}
