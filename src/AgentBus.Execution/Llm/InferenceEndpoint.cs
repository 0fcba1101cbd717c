namespace AgentBus.Llm;

/// <summary>
/// A node-local OpenAI-compatible server (vLLM, Ollama) that model calls made inside
/// <see cref="Use"/> go to instead of the configured provider: the gpu-agent sets it for the GPU a
/// stage leased.
/// </summary>
public static class InferenceEndpoint
{
    private static readonly AsyncLocal<(Uri Url, string Model)?> Override = new();

    public static (Uri Url, string Model)? Current => Override.Value;

    public static IDisposable Use(Uri url, string model)
    {
        var previous = Override.Value;
        Override.Value = (url, model);
        return new Restore(previous);
    }

    private sealed class Restore((Uri, string)? previous) : IDisposable
    {
        public void Dispose() => Override.Value = previous;
    }
}
