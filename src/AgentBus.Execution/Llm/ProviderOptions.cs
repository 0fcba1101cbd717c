namespace AgentBus.Llm;

public sealed class ProviderOptions
{
    public string? ApiKey { get; set; }

    /// <summary>The API's base URL; for OpenAI-compatible servers include the version path, e.g. http://localhost:11434/v1.</summary>
    public string? BaseUrl { get; set; }

    public string? Key => string.IsNullOrWhiteSpace(ApiKey) ? null : ApiKey;
    public Uri? Url => string.IsNullOrWhiteSpace(BaseUrl) ? null : new Uri(BaseUrl.TrimEnd('/') + "/");
}
