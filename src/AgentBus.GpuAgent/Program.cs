var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults("gpu-agent");

var app = builder.Build();
app.MapDefaultEndpoints();
app.Run();
