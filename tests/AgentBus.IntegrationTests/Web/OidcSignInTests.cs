using System.Globalization;

namespace AgentBus.IntegrationTests.Web;

/// <summary>
/// Sign-in with an organization (OpenID Connect) in a real browser (Debian's headless Chromium)
/// against the real AppHost, the web and the api trusting one real provider (OpenIddict on
/// loopback): the person goes through the provider's login and back, the api names them from
/// the access token's sub and role, the web calls the api with that token from its encrypted
/// cookie (never readable in the browser), and the sign-in lasts no longer than the token.
/// </summary>
[Collection(OidcCollection.Name)]
public sealed class OidcSignInTests(OidcAppFixture fixture) : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(20);

    private readonly BrowserSessions _sessions = new(fixture);

    private Browser Open() => _sessions.Open();

    private void Check(Browser browser, string page) => _sessions.Check(browser, page);

    /// <summary>Waits like <see cref="Browser.Until"/>; a failure adds what the web and the api logged last.</summary>
    private void Until(Browser browser, Func<bool> condition, string what)
    {
        try
        {
            browser.Until(condition, Step, what);
        }
        catch (Xunit.Sdk.XunitException e)
        {
            var logs = fixture.Logs.Where(l => l.Resource is AgentBusAppFixture.Web or "api").TakeLast(40).Select(l => $"{l.Resource}: {l.Content}");
            throw new Xunit.Sdk.XunitException($"{e.Message}\nlast log lines:\n{string.Join("\n", logs)}");
        }
    }

    private static bool OnWebApp(Browser browser) =>
        new Uri(browser.Driver.Url).GetLeftPart(UriPartial.Authority) == browser.BaseAddress.GetLeftPart(UriPartial.Authority);

    /// <summary>From the sign-in page through the provider's login form (user name, role, optionally a short token) back to the web app.</summary>
    private void SignInWithOrganization(Browser browser, string user, string? role, int? tokenSeconds = null)
    {
        browser.Go("/signin");
        browser.Click("a[href^='/signin/oidc']");
        Until(browser, () => !OnWebApp(browser) && browser.Exists("#user"), "the provider's login form");
        browser.Find("#user").SendKeys(user);
        if (role is not null)
        {
            browser.Click($"#role option[value='{role}']");
        }
        if (tokenSeconds is { } seconds)
        {
            browser.Find("#lifetime").SendKeys(seconds.ToString(CultureInfo.InvariantCulture));
        }
        browser.Click("form button[type=submit]");
        Until(browser, () => OnWebApp(browser) && !browser.Path.StartsWith("/signin-oidc", StringComparison.Ordinal) && browser.Exists("main"),
            "back on the web app from the provider");
    }

    [Fact]
    public void An_operator_signs_in_with_the_organization_and_the_api_accepts_the_token_the_cookie_keeps_out_of_sight()
    {
        var browser = Open();
        browser.Go("/");
        Assert.StartsWith("/signin", browser.Path);
        Assert.Equal("Sign in with your organization", browser.Text("a[href^='/signin/oidc']"));
        Check(browser, "signin-oidc");

        var issued = fixture.Provider.AccessTokens.Count;
        SignInWithOrganization(browser, "ana", "operator");
        Assert.Equal("/", browser.Path); // the jobs page
        Assert.Contains("jwt:ana", browser.Text("header .who"));
        Assert.Equal("operator", browser.Text("header .role"));
        Assert.True(browser.Exists("a[href='/projects/new']"), "an operator sees New project");

        // The access token went to the web's server only: the browser holds the encrypted cookie
        // (HttpOnly), in which no part of the token can be read.
        var token = Assert.Single(fixture.Provider.AccessTokens.Skip(issued));
        var cookies = browser.Driver.Manage().Cookies.AllCookies;
        Assert.Contains(cookies, c => c.Name.StartsWith("agentbus.web", StringComparison.Ordinal));
        Assert.All(cookies.Where(c => c.Name.StartsWith("agentbus.web", StringComparison.Ordinal)), c => Assert.True(c.IsHttpOnly, $"{c.Name} is HttpOnly"));
        foreach (var cookie in cookies)
        {
            Assert.DoesNotContain(token, cookie.Value, StringComparison.Ordinal);
            foreach (var part in token.Split('.').Skip(1))
            {
                Assert.DoesNotContain(part, cookie.Value, StringComparison.Ordinal);
            }
        }
        Assert.Null(browser.Script("return document.cookie.includes('agentbus.web') || null;"));

        // A project submitted in the browser: the web posts it to the api with the token as Bearer.
        browser.Go("/projects/new");
        var name = "Org sign-in " + Guid.NewGuid().ToString("N")[..6];
        browser.Find("#name").SendKeys(name);
        browser.Find("#requirements").SendKeys(SampleRequirements.Clinic);
        browser.Click("main form button[type=submit]");
        Until(browser, () => browser.Path.StartsWith("/jobs/", StringComparison.Ordinal), "arriving at the job page");
        var jobId = Guid.Parse(browser.Path["/jobs/".Length..]);
        // Read back from the api with the same token (waited for: the interactive render may replace the heading).
        Until(browser, () => browser.Text("h1").Contains(name, StringComparison.Ordinal), "the job page naming the project");

        // Approved in the browser, the api names the token's subject as who approved.
        browser.Until(() => browser.Text(".page-head .badge") == "waiting for approval", TimeSpan.FromSeconds(60), "the job reaching the approval gate");
        browser.Go($"/jobs/{jobId}/prd?action=approve");
        Until(browser, () => browser.Exists(".decision button.primary"), "the approval confirmation");
        browser.Click(".decision button.primary");
        Until(browser, () => browser.Path == $"/jobs/{jobId}" && browser.Exists("[data-event=job_approved]"), "the job approved");
        Assert.Contains("by jwt:ana", browser.Script("return document.querySelector('[data-event=job_approved]').textContent;") as string);

        _sessions.AssertAccessible();
    }

    [Fact]
    public void A_viewer_sees_what_a_viewer_may_a_person_without_a_role_is_told_and_the_sign_in_ends_with_the_token()
    {
        const int tokenSeconds = 20;
        var viewer = Open();
        SignInWithOrganization(viewer, "vic", "viewer", tokenSeconds);
        var signedIn = DateTime.UtcNow;
        Assert.Equal("/", viewer.Path);
        Assert.Contains("jwt:vic", viewer.Text("header .who"));
        Assert.Equal("viewer", viewer.Text("header .role"));
        Assert.False(viewer.Exists("a[href='/projects/new']"), "a viewer sees no New project link");
        Assert.False(viewer.Exists("a[href='/admin']"), "nor Admin");

        // Signed in by the organization but given no Agent Bus role: back on the sign-in page, told why.
        var nobody = Open();
        SignInWithOrganization(nobody, "nora", role: null);
        Assert.StartsWith("/signin", nobody.Path);
        Assert.Contains("no Agent Bus role", nobody.Text("main [role=alert]"));
        Assert.DoesNotContain(nobody.Driver.Manage().Cookies.AllCookies, c => c.Name.StartsWith("agentbus.web", StringComparison.Ordinal));
        Check(nobody, "signin-oidc-no-role");

        // Once the token has expired the cookie has too: the pages ask to sign in again instead of
        // showing the api's refusals.
        var left = signedIn.AddSeconds(tokenSeconds + 1) - DateTime.UtcNow;
        if (left > TimeSpan.Zero)
        {
            Thread.Sleep(left);
        }
        viewer.Go("/");
        Assert.StartsWith("/signin", viewer.Path);

        _sessions.AssertAccessible();
    }

    public void Dispose() => _sessions.Dispose();
}
