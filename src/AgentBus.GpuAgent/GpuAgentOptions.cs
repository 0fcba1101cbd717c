namespace AgentBus.GpuAgent;

/// <summary>The gpu-agent's settings, bound from "AgentBus:Gpu".</summary>
public sealed class GpuAgentOptions
{
    public const string Section = "AgentBus:Gpu";
    public static readonly string[] Sources = ["auto", "nvml", "nvidia-smi", "recorded"];

    /// <summary>auto (NVML, else nvidia-smi, else no GPUs), nvml, nvidia-smi or recorded.</summary>
    public string Source { get; set; } = "auto";

    /// <summary>For Source=recorded: a file of nvidia-smi CSV output (see <see cref="Sources.NvidiaSmiCsv"/>).</summary>
    public string? RecordedPath { get; set; }

    public string NvidiaSmiPath { get; set; } = "nvidia-smi";

    /// <summary>The node's name in metrics and the registry; defaults to NODE_NAME (Kubernetes) or the host name.</summary>
    public string Node { get; set; } = "";

    /// <summary>Stages one GPU runs at once.</summary>
    public int TasksPerGpu { get; set; } = 1;

    /// <summary>A GPU with less free memory than this takes no new stage.</summary>
    public long MinFreeMemoryMiB { get; set; } = 1024;

    /// <summary>How often GPUs are read and the heartbeat is written.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A node whose heartbeat is older than this is gone.</summary>
    public TimeSpan HeartbeatTtl { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>A GPU lease not renewed for this long (its agent died) frees the GPU.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The node-local OpenAI-compatible endpoint (vLLM, Ollama) serving each GPU, by GPU index:
    /// AgentBus:Gpu:InferenceEndpoints:0 = http://127.0.0.1:8100/v1.
    /// </summary>
    public Dictionary<int, Uri> InferenceEndpoints { get; set; } = [];

    /// <summary>The model name the node-local inference servers serve (what vLLM or Ollama calls it).</summary>
    public string InferenceModel { get; set; } = "default";
}
