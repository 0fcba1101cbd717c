using AgentBus;
using AgentBus.Api;
using AgentBus.Api.Gpu;
using AgentBus.Api.Jobs;
using AgentBus.Api.Projects;
using AgentBus.Api.Queues;
using AgentBus.Api.Security;
using AgentBus.Api.Webhooks;
using Scalar.AspNetCore;

const string component = "api";
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults(component);
builder.AddAgentBusJobs(component);
builder.Services.AddOpenApi(o => o.AddDocumentTransformer<AgentBus.Api.ApiDocument>());
builder.Services.AddExceptionHandler<AgentBus.Api.BadRequestHandler>();
builder.Services.AddAgentBusAuth(builder.Configuration, builder.Environment);
builder.Services.AddAgentBusRateLimits(builder.Configuration);
builder.Services.AddOptions<AgentBus.Api.Jobs.EventStreamOptions>().BindConfiguration(AgentBus.Api.Jobs.EventStreamOptions.Section)
    .Validate(o => o.MaxPerCaller >= 1, $"{AgentBus.Api.Jobs.EventStreamOptions.Section}:MaxPerCaller must be 1 or more.").ValidateOnStart();
builder.Services.AddSingleton<AgentBus.Api.Jobs.EventStreamSlots>();
builder.Services.AddOptions<ProjectOptions>().BindConfiguration(ProjectOptions.Section)
    .Validate(o => o.DefaultBudgetUsd is null or (>= 0 and <= 1_000_000), $"{ProjectOptions.Section}:DefaultBudgetUsd must be between 0 and 1000000.").ValidateOnStart();
// Requirements are capped at 100,000 characters: 1 MiB is ample; more is refused with 413.
builder.WebHost.ConfigureKestrel(o => o.Limits.MaxRequestBodySize = AgentBus.Api.BadRequestHandler.MaxBodyBytes);
// Outside Development a body over the limit reaches no exception handler: the endpoint only sets
// 413 and the status-code page writes the problem, which gets the same words here.
builder.Services.PostConfigure<ProblemDetailsOptions>(o =>
{
    var customize = o.CustomizeProblemDetails;
    o.CustomizeProblemDetails = context =>
    {
        customize?.Invoke(context);
        if (context.ProblemDetails.Status == StatusCodes.Status413PayloadTooLarge && context.ProblemDetails.Detail is null)
        {
            context.ProblemDetails.Title = AgentBus.Api.BadRequestHandler.TooLargeTitle;
            context.ProblemDetails.Detail = AgentBus.Api.BadRequestHandler.TooLargeDetail;
        }
    };
});

var app = builder.Build();
// Counted first, so that what the exception handler, authentication and the limits answer (401,
// 403, 413, 415, 429, 500) is counted too: an attack is what operators most need to see.
app.UseAgentBusHttpMetrics();
app.UseExceptionHandler();
app.UseStatusCodePages();
// The limiter partitions by the authenticated caller, so it runs after authentication; and before
// authorization, so that anonymous requests (key guessing) are limited per address too.
app.UseAuthentication();
app.UseRateLimiter();
app.UseAuthorization();
app.UseUtf8RequestBodies();
app.MapDefaultEndpoints();
// The API's description is public (the one part besides probes and metrics): clients read it first.
app.MapOpenApi().AllowAnonymous();
app.MapScalarApiReference("/docs").AllowAnonymous();
app.MapProjectsApi();
app.MapJobsApi();
app.MapGpuApi();
app.MapKeysApi();
app.MapMeApi();
app.MapDeadLettersApi();
app.MapWebhooksApi();
app.Run();
