namespace AgentBus.IntegrationTests.Infrastructure;

/// <summary>
/// The browsers one test opens on the web app of a fixture, closed together when the test ends,
/// and what axe-core found on the pages the test checked.
/// </summary>
public sealed class BrowserSessions(AgentBusAppFixture fixture) : IDisposable
{
    private readonly List<Browser> _browsers = [];
    private readonly List<string> _violations = [];

    public Browser Open()
    {
        var browser = new Browser(fixture.App.GetEndpoint(AgentBusAppFixture.Web, "http"));
        _browsers.Add(browser);
        return browser;
    }

    /// <summary>Checks the page with axe (kept for <see cref="AssertAccessible"/>) and keeps its screenshot.</summary>
    public void Check(Browser browser, string page)
    {
        _violations.AddRange(browser.AxeViolations().Select(v => $"{page}: {v}"));
        browser.Screenshot(page);
    }

    /// <summary>No serious or critical axe violation on any page checked.</summary>
    public void AssertAccessible() => Assert.True(_violations.Count == 0, "axe: " + string.Join("\n", _violations));

    public void Dispose()
    {
        foreach (var browser in _browsers)
        {
            browser.Dispose();
        }
    }
}
