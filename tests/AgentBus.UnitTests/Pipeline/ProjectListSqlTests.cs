using AgentBus.Store;

namespace AgentBus.UnitTests.Pipeline;

/// <summary>
/// The project list's statement (issue 20, finding 8): keyset paging on the primary key, and only
/// the columns the list shows. tests/AgentBus.IntegrationTests/Pipeline/ProjectListTests.cs has
/// Postgres explain the same statement.
/// </summary>
public sealed class ProjectListSqlTests
{
    [Fact]
    public void The_project_page_reads_only_listed_columns_and_pages_by_keyset()
    {
        var sql = JobQueries.ProjectPageSql;
        Assert.DoesNotContain("requirements", sql, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("metadata", sql, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("*", sql, StringComparison.Ordinal);
        Assert.DoesNotContain("OFFSET", sql, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("count(", sql, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("project_id < @before", sql, StringComparison.Ordinal);
        Assert.Contains("ORDER BY project_id DESC", sql, StringComparison.Ordinal);
    }
}
