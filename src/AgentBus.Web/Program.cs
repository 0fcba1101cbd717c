using AgentBus.Client;
using AgentBus.Web.Api;
using AgentBus.Web.Components;
using AgentBus.Web.Health;
using AgentBus.Web.Rendering;
using AgentBus.Web.Security;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.StackExchangeRedis;
using Microsoft.Extensions.Http.Resilience;
using StackExchange.Redis;

const string component = "web";
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults(component);
// Redis keeps the Data Protection keys, so every replica reads the sign-in cookies the others
// wrote (and a restart signs no one out). Readiness names it, as the other services' does.
builder.AddRedisClient("redis", s => s.DisableHealthChecks = true, o => o.AbortOnConnectFail = false);
builder.Services.AddHealthChecks().AddCheck<RedisReadinessCheck>("redis", timeout: TimeSpan.FromSeconds(3));
builder.Services.AddDataProtection().SetApplicationName("agent-bus-web");
builder.Services.AddOptions<KeyManagementOptions>().Configure<IConnectionMultiplexer>((o, redis) =>
    o.XmlRepository = new RedisXmlRepository(() => redis.GetDatabase(), "agentbus:web:data-protection-keys"));

builder.Services.AddWebSignIn(builder.Configuration);
builder.Services.AddRazorComponents().AddInteractiveServerComponents();
builder.Services.AddSingleton<MarkdownRenderer>();

// Calls retry only when safe: a retried POST could start a second paid job.
builder.Services.AddScoped<IApiCredential, SignedInCredential>();
builder.Services.AddHttpClient<AgentBusApi>(http => http.BaseAddress = new Uri(PrincipalCalls.BaseAddress))
    .RemoveAllResilienceHandlers()
    .AddStandardResilienceHandler(o => o.Retry.DisableForUnsafeHttpMethods());
builder.Services.AddHttpClient<JobEventsClient>(http =>
{
    http.BaseAddress = new Uri(PrincipalCalls.BaseAddress);
    http.Timeout = Timeout.InfiniteTimeSpan;
}).RemoveAllResilienceHandlers();

var app = builder.Build();
app.UseExceptionHandler("/error", createScopeForErrors: true);
app.UseStatusCodePagesWithReExecute("/not-found", createScopeForStatusCodePages: true);
app.UseSecurityHeaders();
app.UseAuthentication();
app.UseAuthorization();
app.UseAntiforgery();
app.MapDefaultEndpoints();
app.MapStaticAssets();
app.MapSignInEndpoints();
app.MapDownloadEndpoints();
app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
app.Run();
