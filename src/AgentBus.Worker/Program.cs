using AgentBus;
using AgentBus.Worker.Recovery;

// The worker runs agent stages from the cpu queue; it also re-enqueues stages whose tasks Redis
// lost and moves GPU work to cpu when no GPU node is left. It is a web host so it can serve
// health and metrics.
const string component = "worker";
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults(component);
builder.AddAgentBusJobs(component);
builder.AddStageConsumer();
builder.AddStageReconciler();
builder.AddGpuQueueFallback();

var app = builder.Build();
app.UseAgentBusHttpMetrics();
app.MapDefaultEndpoints();
app.Run();
