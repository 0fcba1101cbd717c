using AgentBus;
using AgentBus.Api;
using AgentBus.Api.Gpu;
using AgentBus.Api.Jobs;
using AgentBus.Api.Projects;
using Scalar.AspNetCore;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults("api");
builder.AddAgentBusCore();
builder.Services.AddOpenApi();
builder.Services.AddExceptionHandler<AgentBus.Api.BadRequestHandler>();
// Requirements are capped at 100,000 characters: 1 MiB is ample; more is refused with 413.
builder.WebHost.ConfigureKestrel(o => o.Limits.MaxRequestBodySize = 1024 * 1024);

var app = builder.Build();
app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseUtf8RequestBodies();
app.MapDefaultEndpoints();
app.MapOpenApi();
app.MapScalarApiReference("/docs");
app.MapProjectsApi();
app.MapJobsApi();
app.MapGpuApi();
app.Run();
