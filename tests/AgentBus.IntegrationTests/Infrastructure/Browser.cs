using System.Text.Json;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace AgentBus.IntegrationTests.Infrastructure;

/// <summary>
/// Debian's headless Chromium driven through Debian's chromium-driver (Selenium, offline), on
/// the web app of a running AppHost. Checks pages with axe-core (tests/browser, installed by
/// scripts/ensure-prerequisites.sh) and takes screenshots: into docs/ui when
/// AGENTBUS_UI_SCREENSHOTS=1, else under the test output.
/// </summary>
public sealed class Browser : IDisposable
{
    public static readonly string AxePath = System.IO.Path.Combine(Repository.Root, "tests", "browser", "node_modules", "axe-core", "axe.min.js");

    private readonly ChromeDriver _driver;

    public Browser(Uri baseAddress)
    {
        BaseAddress = baseAddress;
        var options = new ChromeOptions { BinaryLocation = "/usr/bin/chromium" };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000", "--lang=en-US");
        var service = ChromeDriverService.CreateDefaultService("/usr/bin", "chromedriver");
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        _driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }

    public Uri BaseAddress { get; }

    public IWebDriver Driver => _driver;

    public string Path => new Uri(_driver.Url).PathAndQuery;

    public void Go(string path) => _driver.Navigate().GoToUrl(new Uri(BaseAddress, path));

    public void SignIn(string apiKey)
    {
        Go("/signin");
        _driver.FindElement(By.Id("api-key")).SendKeys(apiKey);
        _driver.FindElement(By.CssSelector("main form button[type=submit]")).Click();
        Until(() => !Path.StartsWith("/signin", StringComparison.Ordinal), TimeSpan.FromSeconds(15), "signing in");
    }

    public IWebElement Find(string css) => _driver.FindElement(By.CssSelector(css));

    public IReadOnlyList<IWebElement> FindAll(string css) => _driver.FindElements(By.CssSelector(css));

    public bool Exists(string css) => _driver.FindElements(By.CssSelector(css)).Count > 0;

    /// <summary>
    /// The element's rendered text, or "" when there is none. Read in one script: an interactive
    /// page may replace its prerendered elements at any moment (a found element would go stale).
    /// </summary>
    public string Text(string css) => Script("return document.querySelector(arguments[0])?.innerText ?? '';", css) as string ?? "";

    /// <summary>Clicks the element, finding it again if the page replaced it meanwhile.</summary>
    public void Click(string css) =>
        Until(() =>
        {
            _driver.FindElement(By.CssSelector(css)).Click();
            return true;
        }, TimeSpan.FromSeconds(10), $"clicking {css}");

    public object? Script(string script, params object[] args) => _driver.ExecuteScript(script, args);

    /// <summary>Waits until <paramref name="condition"/> holds; fails naming what was awaited and the page's text.</summary>
    public void Until(Func<bool> condition, TimeSpan timeout, string what)
    {
        var wait = new WebDriverWait(_driver, timeout) { PollingInterval = TimeSpan.FromMilliseconds(50) };
        wait.IgnoreExceptionTypes(typeof(NoSuchElementException), typeof(StaleElementReferenceException));
        try
        {
            wait.Until(_ => condition());
        }
        catch (WebDriverTimeoutException)
        {
            throw new Xunit.Sdk.XunitException($"{what}: not within {timeout.TotalSeconds} s. At {_driver.Url}:\n{Text("main")}");
        }
    }

    /// <summary>The element that has the keyboard focus.</summary>
    public IWebElement Focused => _driver.SwitchTo().ActiveElement();

    /// <summary>Presses keys on whatever has the focus, as a keyboard would.</summary>
    public void Press(string keys) => new OpenQA.Selenium.Interactions.Actions(_driver).SendKeys(keys).Perform();

    /// <summary>Moves the focus with Tab until it is on the element <paramref name="css"/> matches; fails when Tab never gets there.</summary>
    public void TabTo(string css, int maxPresses = 40)
    {
        Until(() => Exists(css), TimeSpan.FromSeconds(10), $"{css} on the page");
        for (var i = 0; i < maxPresses; i++)
        {
            Press(Keys.Tab);
            if (Script("return document.activeElement?.matches(arguments[0]) ?? false;", css) is true)
            {
                return;
            }
        }
        throw new Xunit.Sdk.XunitException($"{maxPresses} presses of Tab never reached {css} at {_driver.Url}");
    }

    /// <summary>Marks the loaded document: <see cref="SameDocument"/> stays true until a reload or navigation.</summary>
    public void MarkDocument() => Script("window.__agentbusMark = 'unchanged';");

    public bool SameDocument => Script("return window.__agentbusMark || null;") as string == "unchanged";

    /// <summary>axe-core's serious and critical violations on the current page, as "rule: targets".</summary>
    public IReadOnlyList<string> AxeViolations()
    {
        Script(File.ReadAllText(AxePath));
        var json = (string?)_driver.ExecuteAsyncScript("""
            const done = arguments[arguments.length - 1];
            axe.run(document, { resultTypes: ['violations'] }).then(r => done(JSON.stringify(
                r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                    .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')))));
            """);
        return JsonSerializer.Deserialize<List<string>>(json ?? "null") ?? throw new InvalidOperationException("axe returned nothing");
    }

    public void Screenshot(string name)
    {
        var folder = Environment.GetEnvironmentVariable("AGENTBUS_UI_SCREENSHOTS") == "1"
            ? System.IO.Path.Combine(Repository.Root, "docs", "ui")
            : System.IO.Path.Combine(AppContext.BaseDirectory, "ui");
        Directory.CreateDirectory(folder);
        _driver.GetScreenshot().SaveAsFile(System.IO.Path.Combine(folder, name + ".png"));
    }

    /// <summary>An HTTP client of the web app carrying this browser's cookies (its sign-in), for downloads and forged posts.</summary>
    public HttpClient HttpClientWithCookies()
    {
        var client = new HttpClient(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = BaseAddress };
        client.DefaultRequestHeaders.Add("Cookie", string.Join("; ", _driver.Manage().Cookies.AllCookies.Select(c => $"{c.Name}={c.Value}")));
        return client;
    }

    public void Dispose()
    {
        _driver.Quit();
        _driver.Dispose();
    }
}
