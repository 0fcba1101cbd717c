using AgentBus;

// The worker runs agent stages from the cpu queue; it is a web host so it can serve health and metrics.
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults("worker");
builder.AddAgentBusCore();
builder.AddAgentBusStageConsumer();

var app = builder.Build();
app.MapDefaultEndpoints();
app.Run();
