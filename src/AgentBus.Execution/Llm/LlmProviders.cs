namespace AgentBus.Llm;

public static class LlmProviders
{
    public const string Offline = "offline";
    public const string Anthropic = "anthropic";
    public const string OpenAI = "openai";

    public static readonly string[] All = [Offline, Anthropic, OpenAI];

    public static string DefaultModel(string provider) => provider switch
    {
        Anthropic => "claude-sonnet-4-5",
        OpenAI => "gpt-4.1-mini",
        _ => OfflineChatClient.ModelName,
    };
}
