using AgentBus;
using AgentBus.Gpu;

// The worker runs agent stages from the cpu queue, and moves GPU work to cpu when no GPU node is
// left; it is a web host so it can serve health and metrics.
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults("worker");
builder.AddAgentBusCore();
builder.AddAgentBusStageConsumer();
builder.AddGpuQueueFallback();
builder.AddStageReconciler();

var app = builder.Build();
app.MapDefaultEndpoints();
app.Run();
