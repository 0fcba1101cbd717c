using AgentBus.Llm;
using Microsoft.Extensions.Options;

namespace AgentBus.UnitTests.Llm;

public sealed class PriceTableTests
{
    private static PriceTable Table(Dictionary<string, ModelPrice>? overrides = null) =>
        new(Options.Create(new LlmOptions { Prices = overrides ?? [] }));

    [Fact]
    public void A_known_model_is_priced_to_the_cent_with_cache_reads_and_writes()
    {
        var usage = new LlmUsage(InputTokens: 1_200_000, OutputTokens: 300_000, CacheReadTokens: 800_000, CacheWriteTokens: 100_000);
        // 1.2 M x $3 + 0.3 M x $15 + 0.8 M x $0.30 + 0.1 M x $3.75 = 3.60 + 4.50 + 0.24 + 0.375
        Assert.Equal(8.715m, Table().Find("claude-sonnet-4-5")!.Cost(usage));
        Assert.Equal(8.715m, Table().Find("claude-sonnet-4-5-20250929")!.Cost(usage));
        // 1.2 M x $0.15 + 0.3 M x $0.60 + 0.8 M x $0.075
        Assert.Equal(0.42m, Table().Find("gpt-4o-mini-2024-07-18")!.Cost(usage));
        // 5 x $0.40 + 1 x $1.60 + 1 x $0.10 per million
        Assert.Equal(0.0000037m, Table().Find("gpt-4.1-mini")!.Cost(new LlmUsage(5, 1, 1, 0)));
    }

    [Fact]
    public void The_longest_matching_entry_wins()
    {
        Assert.Equal(0.15m, Table().Find("gpt-4o-mini")!.Input);
        Assert.Equal(2.50m, Table().Find("gpt-4o-2024-08-06")!.Input);
    }

    [Theory]
    [InlineData("llama3.1:8b")]
    [InlineData("gpt-4o1")]
    [InlineData("mistral-large")]
    public void An_unknown_model_has_no_price_not_zero(string model) => Assert.Null(Table().Find(model));

    [Fact]
    public void Configuration_adds_and_overrides_prices()
    {
        var table = Table(new() { ["llama3.1:8b"] = new ModelPrice { Input = 0.05m, Output = 0.08m }, ["gpt-4o"] = new ModelPrice { Input = 2m, Output = 8m } });
        Assert.Equal(0.13m, table.Find("llama3.1:8b")!.Cost(new LlmUsage(1_000_000, 1_000_000, 0, 0)));
        Assert.Equal(2m, table.Find("GPT-4o")!.Input);
        Assert.Equal(0m, table.Find(OfflineChatClient.ModelName)!.Cost(new LlmUsage(1000, 1000, 0, 0)));
    }
}
