using Npgsql;

namespace AgentBus.IntegrationTests.Pipeline;

[Collection(AppHostCollection.Name)]
public sealed class SimilarPrdTests(AppHostFixture fixture)
{
    private const string Kennel = "Dog owners must be able to reserve kennel nights for their pets. Kennel staff should see daily occupancy.";

    [Fact]
    public async Task The_prd_agent_is_given_similar_earlier_prds_found_by_full_text_search()
    {
        using var api = fixture.Api();
        var (_, first) = await api.CreateProjectAsync("Kennel one", Kennel);
        await api.WaitForStatusAsync(first, "waiting_for_approval");
        var (_, second) = await api.CreateProjectAsync("Kennel two", Kennel + " Owners can cancel a reservation.");
        await api.WaitForStatusAsync(second, "waiting_for_approval");

        var prd = (string)(await api.ArtifactAsync(second, "prd"))["content"]!;
        Assert.Contains("## Prior art", prd);
        Assert.Matches(@"- [1-3] similar earlier PRD\(s\) were consulted", prd);
    }

    [Fact]
    public async Task Similar_prds_are_found_through_the_full_text_index_not_a_table_scan()
    {
        await using var db = new NpgsqlConnection(await fixture.PostgresConnectionStringAsync());
        await db.OpenAsync();
        await using (var off = new NpgsqlCommand("SET enable_seqscan = off", db))
        {
            await off.ExecuteNonQueryAsync();
        }
        await using var explain = new NpgsqlCommand(
            "EXPLAIN SELECT content FROM artifacts WHERE search @@ to_tsquery('simple', 'kennel | owner') LIMIT 3", db);
        var plan = string.Join('\n', await ReadAllAsync(explain));
        Assert.True(plan.Contains("artifacts_prd_search", StringComparison.Ordinal), plan);
    }

    private static async Task<List<string>> ReadAllAsync(NpgsqlCommand command)
    {
        var lines = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            lines.Add(reader.GetString(0));
        }
        return lines;
    }
}
